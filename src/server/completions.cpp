// POST /v1/completions: prompt (text, texts, token ids, lists of token ids) -> engine.
#include "engine/engine.h"
#include "server/api_error.h"
#include "server/json_body.h"
#include "server/openai_routes.h"
#include "server/openai_schema.h"
#include "server/server_context.h"

namespace strata {

RouteResult handle_completions(ServerContext& context, const HttpRequest& request) {
  const auto& config = context.config();
  nlohmann::json body = parse_json_object_body(request.body, config.limits.max_json_depth);
  check_model_name(body, config.served_model_name);
  Engine& engine = context.engine();
  CompletionPrompts parsed = parse_completion_prompts(body, config.limits, engine.vocab_size());
  GenerationOptions options =
      parse_generation_options(body, ApiKind::Completion, config.limits, engine.vocab_size());
  const Tokenizer& tokenizer = engine.tokenizer();
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::string> echo_texts;
  for (const std::string& text : parsed.texts) {
    prompts.push_back(encode_completion_prompt(tokenizer, text));
    if (prompts.back().empty()) throw invalid_param("prompt", "'prompt' must not be empty");
    echo_texts.push_back(text);
  }
  for (auto& ids : parsed.token_lists) {
    if (options.echo) echo_texts.push_back(decode_text(tokenizer, ids));
    prompts.push_back(std::move(ids));
  }
  RouteResult result;
  result.job = submit_generation(context, std::move(options), std::move(prompts),
                                 std::move(echo_texts), "cmpl-", "prompt");
  return result;
}

}  // namespace strata
