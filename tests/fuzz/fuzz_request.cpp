// The server's request parsing and validation (BAD_INPUTS 15-23, 28) without a model or
// a socket: raw body bytes -> JSON object -> GenerationOptions, chat messages rendered by
// a ChatML template, or completion prompts, then max_tokens against a context of 256.
// Every rejection must be an ApiError (a 4xx for the client); anything else escaping is a
// bug, as it would be a 500.
#include "core/error.h"
#include "server/api_error.h"
#include "server/chat_prompt.h"
#include "server/json_body.h"
#include "server/openai_schema.h"

namespace strata::fuzz {
namespace {

constexpr int kVocabSize = 512;
constexpr int kContextLength = 256;

const ChatFormatter& chatml() {
  static const auto formatter = make_template_chat_formatter(
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
      "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
      "", "<|im_end|>");
  return *formatter;
}

void parse_request(std::string_view bytes, ApiKind kind) {
  const RequestLimits limits;
  nlohmann::json body = parse_json_object_body(bytes, limits.max_json_depth);
  check_model_name(body, "test-model");
  GenerationOptions options = parse_generation_options(body, kind, limits, kVocabSize);
  int prompt_tokens = 0;
  if (kind == ApiKind::Chat) {
    nlohmann::json messages = normalize_chat_messages(body, limits);
    prompt_tokens = static_cast<int>(chatml().render(messages, true).size());
  } else {
    CompletionPrompts prompts = parse_completion_prompts(body, limits, kVocabSize);
    for (const auto& text : prompts.texts) prompt_tokens = std::max<int>(prompt_tokens, text.size());
    for (const auto& ids : prompts.token_lists) prompt_tokens = std::max<int>(prompt_tokens, ids.size());
  }
  (void)resolve_max_tokens(options, prompt_tokens, kContextLength, limits,
                           kind == ApiKind::Chat ? "messages" : "prompt");
  (void)dump_json(body);
}

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata;
  // The first byte picks the endpoint; the rest is the body as it came off the wire.
  if (size == 0) return 0;
  const ApiKind kind = data[0] % 2 ? ApiKind::Completion : ApiKind::Chat;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    fuzz::parse_request(body, kind);
  } catch (const ApiError& e) {
    if (e.status() < 400 || e.status() >= 500) std::abort();  // a rejection must be a 4xx
  } catch (const Error&) {
    // The template's clear errors (the server answers these with 400 too).
  }
  return 0;
}
