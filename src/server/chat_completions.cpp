// POST /v1/chat/completions: messages -> chat template -> tokens -> engine.
#include "engine/engine.h"
#include "server/api_error.h"
#include "server/json_body.h"
#include "server/openai_routes.h"
#include "server/openai_schema.h"
#include "server/server_context.h"

namespace strata {

RouteResult handle_chat_completions(ServerContext& context, const HttpRequest& request) {
  const auto& config = context.config();
  nlohmann::json body = parse_json_object_body(request.body, config.limits.max_json_depth);
  check_model_name(body, config.served_model_name);
  nlohmann::json messages = normalize_chat_messages(body, config.limits);
  Engine& engine = context.engine();
  GenerationOptions options =
      parse_generation_options(body, ApiKind::Chat, config.limits, engine.vocab_size());
  if (!context.chat_formatter()) {
    throw ApiError(400, "invalid_request_error",
                   "This model has no chat template; use /v1/completions", "messages");
  }
  std::string text = context.chat_formatter()->render(messages, /*add_generation_prompt=*/true);
  std::vector<int32_t> tokens = encode_chat_prompt(engine.tokenizer(), text);
  std::vector<std::vector<int32_t>> prompts;
  prompts.push_back(std::move(tokens));
  RouteResult result;
  result.job = submit_generation(context, std::move(options), std::move(prompts), {},
                                 "chatcmpl-", "messages");
  return result;
}

}  // namespace strata
