#pragma once
// One sequence as the scheduler sees it: its tokens (prompt, then generated), how many
// of them are already in the KV cache, and its block table. Prefill and decode are the
// same thing here: "tokens not yet computed". A request with n > 1 choices is one
// sequence holding n running seats until its prompt is computed, then forks into n.
#include <cstdint>
#include <tuple>
#include <vector>

#include "cache/block_allocator.h"

namespace strata {

using SequenceId = int64_t;

enum class SequenceStatus : uint8_t { Waiting, Running, Swapped };

struct Sequence {
  SequenceId id = 0;
  int priority = 0;        // lower value = more important
  uint64_t arrival = 0;    // submission order; earlier = more important among equals
  std::vector<int32_t> tokens;
  int num_prompt_tokens = 0;
  int num_computed = 0;    // tokens whose keys/values are in the cache
  BlockTable blocks;       // device blocks, or host blocks while swapped
  int seats = 1;           // running slots it takes (n before an n > 1 request forks)
  SequenceStatus status = SequenceStatus::Waiting;
  int num_preemptions = 0;
  int first_cached_tokens = -1;  // prefix-cache hit at first admission (-1: not yet admitted)

  int num_uncomputed() const { return static_cast<int>(tokens.size()) - num_computed; }
  // Scheduling order: priority, then arrival, then id (forks of one request).
  auto order_key() const { return std::make_tuple(priority, arrival, id); }
};

}  // namespace strata
