// GET /v1/models, POST /tokenize, POST /detokenize (vLLM's shapes), GET /metrics.
#include "engine/engine.h"
#include "server/api_error.h"
#include "server/json_body.h"
#include "server/openai_routes.h"
#include "server/openai_schema.h"
#include "server/param_reader.h"
#include "server/server_context.h"
#include "tokenizer/tokenizer.h"

namespace strata {

namespace {

nlohmann::json model_card(ServerContext& context) {
  return {{"id", context.config().served_model_name},
          {"object", "model"},
          {"created", context.started_at()},
          {"owned_by", "strata"},
          {"root", context.config().served_model_name},
          {"parent", nullptr},
          {"max_model_len", context.engine().context_length()}};
}

}  // namespace

HttpResponse handle_models(ServerContext& context) {
  nlohmann::json body = {{"object", "list"}, {"data", nlohmann::json::array({model_card(context)})}};
  return json_response(200, dump_json(body));
}

HttpResponse handle_model(ServerContext& context, const std::string& name) {
  if (name != context.config().served_model_name) throw model_not_found(name);
  return json_response(200, dump_json(model_card(context)));
}

HttpResponse handle_tokenize(ServerContext& context, const HttpRequest& request) {
  const auto& config = context.config();
  nlohmann::json body = parse_json_object_body(request.body, config.limits.max_json_depth);
  check_model_name(body, config.served_model_name);
  ParamReader p(body);
  const Tokenizer& tokenizer = context.engine().tokenizer();
  std::vector<int32_t> tokens;
  if (p.has("messages")) {
    if (!context.chat_formatter()) {
      throw invalid_param("messages", "This model has no chat template");
    }
    nlohmann::json messages = normalize_chat_messages(body, config.limits);
    bool add_generation_prompt = p.boolean("add_generation_prompt").value_or(true);
    std::string text = context.chat_formatter()->render(messages, add_generation_prompt);
    tokens = encode_chat_prompt(tokenizer, text);
  } else {
    auto prompt = p.string("prompt");
    if (!prompt) throw invalid_param("prompt", "'prompt' (a string) or 'messages' is required");
    bool add_special = p.boolean("add_special_tokens").value_or(true);
    tokens = tokenizer.encode(*prompt, add_special, /*parse_special=*/true);
  }
  nlohmann::json out = {{"count", tokens.size()},
                        {"max_model_len", context.engine().context_length()},
                        {"tokens", tokens}};
  if (p.boolean("return_token_strs").value_or(false)) {
    nlohmann::json strs = nlohmann::json::array();
    for (int32_t id : tokens) strs.push_back(utf8_lossy(tokenizer.token_text(id)));
    out["token_strs"] = std::move(strs);
  }
  return json_response(200, dump_json(out));
}

HttpResponse handle_detokenize(ServerContext& context, const HttpRequest& request) {
  const auto& config = context.config();
  nlohmann::json body = parse_json_object_body(request.body, config.limits.max_json_depth);
  check_model_name(body, config.served_model_name);
  auto it = body.find("tokens");
  if (it == body.end() || !it->is_array()) {
    throw invalid_param("tokens", "'tokens' must be a list of token ids");
  }
  const int vocab = context.engine().vocab_size();
  std::vector<int32_t> ids;
  for (const auto& v : *it) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab) {
      throw invalid_param("tokens", "'tokens' must hold token ids in [0, " + std::to_string(vocab) + ")");
    }
    ids.push_back(v.get<int32_t>());
  }
  nlohmann::json out = {{"prompt", decode_text(context.engine().tokenizer(), ids)}};
  return json_response(200, dump_json(out));
}

HttpResponse handle_metrics(ServerContext& context) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = context.metrics().render(context.engine().stats());
  return r;
}

}  // namespace strata
