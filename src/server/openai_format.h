#pragma once
// Response pieces in OpenAI's shapes: usage, finish reasons, and logprobs for chat
// ({"content": [{token, logprob, bytes, top_logprobs}]}) and for legacy completions
// ({tokens, token_logprobs, top_logprobs, text_offset}).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"

namespace strata {

class Tokenizer;

const char* openai_finish_reason(FinishReason reason);

nlohmann::json usage_json(int prompt_tokens, int completion_tokens, int cached_prompt_tokens);

// One chat logprobs entry per token.
nlohmann::json chat_logprob_entries(const Tokenizer& tokenizer,
                                    const std::vector<TokenLogprob>& logprobs);

// Legacy completions logprobs for tokens whose text starts at character `text_offset`
// (offsets count characters, as Python indexes the returned string); advances
// `text_offset` past them. `tokens` are the tokens' TokenLogprob::text, so joined they give
// the returned text: a sampled special token's entry is empty (its name stays in
// top_logprobs), and so is that of a token ending partway through a character.
nlohmann::json completion_logprobs(const Tokenizer& tokenizer,
                                   const std::vector<TokenLogprob>& logprobs,
                                   size_t& text_offset);

// Appends the four arrays of `more` to `into` (non-streamed responses accumulate).
void append_completion_logprobs(nlohmann::json& into, const nlohmann::json& more);

}  // namespace strata
