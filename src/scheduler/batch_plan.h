#pragma once
// The scheduler's decision for one step: which sequences compute which tokens, with
// which block tables, and the block copies to perform before the forward pass (in this
// order: swap_out, swap_in, copies).
#include <cstdint>
#include <vector>

#include "cache/block_allocator.h"
#include "scheduler/sequence.h"

namespace strata {

struct ScheduledSequence {
  SequenceId id = 0;
  std::vector<int32_t> tokens;      // this step's new tokens
  int num_cached = 0;               // tokens of the sequence already in the cache
  std::vector<int32_t> block_table; // enough blocks for num_cached + tokens.size()
  bool wants_logits = false;        // this chunk reaches the end of the sequence's tokens
};

struct BatchPlan {
  std::vector<ScheduledSequence> sequences;
  std::vector<BlockCopy> swap_out;  // (device block, host block)
  std::vector<BlockCopy> swap_in;   // (host block, device block)
  std::vector<BlockCopy> copies;    // (device block, device block): copy-on-write
  std::vector<SequenceId> preempted;
  int num_tokens = 0;

  bool empty() const { return sequences.empty() && swap_out.empty() && swap_in.empty(); }
};

}  // namespace strata
