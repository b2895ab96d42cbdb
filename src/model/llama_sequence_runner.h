#pragma once
// One sequence over a contiguous KV storage (its block table is simply 0, 1, 2, ...):
// what `strata run` and `strata bench` need, without the serving engine. Works with any
// CausalLM. Prompts are prefilled in chunks so that scratch memory stays bounded.
#include <cstdint>
#include <span>
#include <vector>

#include "model/model.h"

namespace strata {

class SequenceRunner {
 public:
  SequenceRunner(CausalLM& model, int context_length, DType kv_dtype = DType::F16, int max_chunk = 256);

  // Makes the cache hold exactly `tokens`, re-using the longest prefix already cached, and
  // returns the logits [vocab] of the last token (valid until the next call).
  std::span<float> prefill(const std::vector<int32_t>& tokens);
  // Appends one token and returns its logits.
  std::span<float> decode(int32_t token);
  void reset() { tokens_.clear(); }

  const std::vector<int32_t>& tokens() const { return tokens_; }
  int context_length() const { return context_length_; }
  size_t kv_bytes() const;

 private:
  std::span<float> run(std::span<const int32_t> new_tokens, bool want_logits);

  static constexpr int kBlockSize = 16;
  CausalLM& model_;
  int context_length_;
  int max_chunk_;
  KVStorage kv_;
  std::vector<int32_t> block_table_;
  std::vector<int32_t> tokens_;
  Tensor logits_;
};

}  // namespace strata
