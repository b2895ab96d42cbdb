#pragma once
// What one forward pass computes, on the host, as the scheduler and engine describe it.
// Prefill chunks, decode steps and (later) speculative tokens are all "new tokens of a
// sequence": the model runner needs nothing else. Backends turn it into BatchTensors.
#include <cstdint>
#include <vector>

namespace strata {

class ForwardBatch {
 public:
  // Adds one sequence's new tokens. `num_cached` tokens of it are already in the cache
  // (so its new tokens sit at positions num_cached, num_cached+1, ...); `block_table`
  // lists its KV blocks, enough for num_cached + tokens.size() tokens.
  // want_logits: none, the last new token only, or every new token (speculative verify).
  enum class Logits : uint8_t { None, Last, All };
  void add_sequence(const std::vector<int32_t>& tokens, int32_t num_cached,
                    const std::vector<int32_t>& block_table, int block_size, Logits want_logits);

  int num_tokens() const { return static_cast<int>(token_ids.size()); }
  int num_seqs() const { return static_cast<int>(context_lens.size()); }
  int num_logit_rows() const { return static_cast<int>(logit_rows.size()); }

  // Flattened per-token arrays [T].
  std::vector<int32_t> token_ids;
  std::vector<int32_t> positions;
  std::vector<int32_t> slot_mapping;
  // Per-sequence arrays [S] (query_start has S + 1 entries).
  std::vector<int32_t> query_start{0};
  std::vector<int32_t> context_lens;
  std::vector<std::vector<int32_t>> block_tables;
  // Rows of the flattened tokens whose logits are returned, in order.
  std::vector<int32_t> logit_rows;
};

}  // namespace strata
