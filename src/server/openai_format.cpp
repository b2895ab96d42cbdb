#include "server/openai_format.h"

#include <string_view>

#include "server/json_body.h"
#include "tokenizer/tokenizer.h"

namespace strata {

const char* openai_finish_reason(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Abort: return "abort";
    case FinishReason::Error: return "error";
  }
  return "stop";
}

nlohmann::json usage_json(int prompt_tokens, int completion_tokens, int cached_prompt_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_prompt_tokens}}}};
}

namespace {

std::string token_bytes(const Tokenizer& tokenizer, int32_t id) {
  const int32_t ids[1] = {id};
  return tokenizer.decode_bytes(ids, /*skip_special=*/false);
}

nlohmann::json chat_token_json(const Tokenizer& tokenizer, int32_t id, float logprob) {
  std::string bytes = token_bytes(tokenizer, id);
  nlohmann::json byte_list = nlohmann::json::array();
  for (unsigned char c : bytes) byte_list.push_back(int(c));
  return {{"token", utf8_lossy(bytes)}, {"logprob", logprob}, {"bytes", std::move(byte_list)}};
}

// Characters (code points) in valid UTF-8 text: every character has exactly one byte
// that is not a continuation byte (10xxxxxx).
size_t character_count(std::string_view utf8_text) {
  size_t count = 0;
  for (unsigned char c : utf8_text) count += (c & 0xC0) != 0x80;
  return count;
}

}  // namespace

nlohmann::json chat_logprob_entries(const Tokenizer& tokenizer,
                                    const std::vector<TokenLogprob>& logprobs) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& lp : logprobs) {
    nlohmann::json entry = chat_token_json(tokenizer, lp.token, lp.logprob);
    nlohmann::json top = nlohmann::json::array();
    for (const auto& [id, value] : lp.top) top.push_back(chat_token_json(tokenizer, id, value));
    entry["top_logprobs"] = std::move(top);
    entries.push_back(std::move(entry));
  }
  return entries;
}

nlohmann::json completion_logprobs(const Tokenizer& tokenizer,
                                   const std::vector<TokenLogprob>& logprobs,
                                   size_t& text_offset) {
  nlohmann::json tokens = nlohmann::json::array(), token_logprobs = nlohmann::json::array(),
                 top_logprobs = nlohmann::json::array(), offsets = nlohmann::json::array();
  for (const auto& lp : logprobs) {
    // A sampled token as the returned text has it (lp.text): special tokens are left out of
    // the text and a character split across tokens belongs to the token completing it, so
    // the entries joined give the text. The alternatives keep their names (an end-of-text
    // token among them stays recognisable).
    tokens.push_back(lp.text);
    token_logprobs.push_back(lp.logprob);
    nlohmann::json top = nlohmann::json::object();
    for (const auto& [id, value] : lp.top) top[utf8_lossy(token_bytes(tokenizer, id))] = value;
    top_logprobs.push_back(std::move(top));
    offsets.push_back(text_offset);
    text_offset += character_count(lp.text);
  }
  return {{"tokens", std::move(tokens)}, {"token_logprobs", std::move(token_logprobs)},
          {"top_logprobs", std::move(top_logprobs)}, {"text_offset", std::move(offsets)}};
}

void append_completion_logprobs(nlohmann::json& into, const nlohmann::json& more) {
  if (into.is_null()) {
    into = more;
    return;
  }
  for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
    for (const auto& v : more[key]) into[key].push_back(v);
  }
}

}  // namespace strata
