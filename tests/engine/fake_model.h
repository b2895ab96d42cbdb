#pragma once
// A tiny deterministic stand-in for a model, for engine tests that need no weights.
// Its logits depend on every token of the context, read back through the KV cache and
// the sequence's block table: a wrong block table, a missed copy-on-write or a bad
// swap changes the tokens it produces. The same rule, computed directly from a token
// list (reference_logits), is the tests' reference.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace strata::testing {

constexpr int kFakeVocab = 64;
constexpr int32_t kFakeEos = 0;

// Logits [vocab] for the next token after `context`.
std::vector<float> reference_logits(const std::vector<int32_t>& context);
// Greedy continuation of `prompt` by the reference rule, stopping at eos or max_tokens.
std::vector<int32_t> reference_greedy(const std::vector<int32_t>& prompt, int max_tokens, bool stop_at_eos);

std::unique_ptr<CausalLM> make_fake_model(int context_length = 1024);
// Token i decodes to "<i>"; token 0 ends generation.
std::unique_ptr<Tokenizer> make_fake_tokenizer(int vocab_size = kFakeVocab);

}  // namespace strata::testing
