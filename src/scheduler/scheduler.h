#pragma once
// Iteration-level scheduling over counts and block availability (no model needed).
// Each step, under a token budget: running sequences that decode go first (so streams
// never stall), then running prefills continue in chunks, then swapped sequences come
// back, then waiting ones are admitted in (priority, arrival) order, re-using cached
// prefix blocks. When blocks run out, the least important running sequence (highest
// priority value, latest arrival) is preempted: by recompute (its blocks are freed and
// it waits again with prompt + generated tokens) or by swap (its blocks move to host
// memory until space returns). Admission stops at the first waiting sequence that does
// not fit, so nothing is starved by later, smaller requests. A waiting sequence whose
// prompt prefix a running prefill is computing right now is passed over until those
// blocks are cached (see prefix_being_computed).
#include <cstdint>
#include <map>
#include <vector>

#include "cache/kv_cache_manager.h"
#include "scheduler/batch_plan.h"
#include "scheduler/sequence.h"

namespace strata {

enum class PreemptionMode : uint8_t { Recompute, Swap };

struct SchedulerConfig {
  int max_num_seqs = 64;          // running sequences (seats)
  int max_batched_tokens = 2048;  // tokens computed per step, decode and prefill together
  PreemptionMode preemption = PreemptionMode::Recompute;
};

struct SchedulerCounts {
  int waiting = 0;
  int running = 0;
  int swapped = 0;
  int64_t preemptions = 0;
  int64_t swap_outs = 0;  // preemptions that moved the sequence's blocks to host memory
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, KVCacheManager& kv);

  // Whether a sequence that may grow to `max_total_tokens` could ever fit in the cache.
  bool can_ever_fit(int max_total_tokens) const;
  // Adds a waiting sequence (status, computed count and blocks are reset).
  void add(Sequence sequence);
  bool contains(SequenceId id) const { return sequences_.count(id) > 0; }
  Sequence& sequence(SequenceId id);

  BatchPlan schedule();
  // After the forward pass of `plan`: the scheduled tokens are now in the cache; newly
  // full blocks are offered to the prefix cache.
  void complete(const BatchPlan& plan);
  // Appends a generated token (it becomes the sequence's next token to compute).
  void append_token(SequenceId id, int32_t token);
  // Splits a running sequence into itself plus one child per id in `child_ids`, all
  // sharing its blocks (copy-on-write); each takes one seat.
  void fork(SequenceId parent, const std::vector<SequenceId>& child_ids);
  // Removes a sequence wherever it is and frees its blocks (finish or abort).
  void remove(SequenceId id);

  SchedulerCounts counts() const;
  bool idle() const { return sequences_.empty(); }
  const KVCacheManager& kv() const { return kv_; }

 private:
  struct StepState;

  std::vector<SequenceId> sorted(const std::vector<SequenceId>& ids) const;
  void schedule_running(StepState& step);
  void schedule_swapped(StepState& step);
  void schedule_waiting(StepState& step);
  // Reserves blocks for `n` more tokens of `seq` (copy-on-write of a shared last block
  // included); returns the tokens that fit, at most n (all or nothing when !may_shrink).
  int reserve(Sequence& seq, int n, bool may_shrink, StepState& step);
  void add_to_plan(Sequence& seq, int n, StepState& step);
  // Whether a running prefill is computing whole blocks of `seq`'s prompt beyond its
  // cached prefix (a burst of requests sharing a system prompt). Such a sequence waits
  // for those blocks to reach the prefix cache instead of computing them a second time;
  // the prefill always progresses, so the wait is short and never starves it.
  bool prefix_being_computed(const Sequence& seq, int num_cached_tokens) const;
  // Preempts the least important of `candidates` (running, not yet scheduled this step).
  SequenceId preempt_least_important(const std::vector<SequenceId>& candidates, StepState& step);
  void preempt(Sequence& seq, StepState& step);
  void release_blocks(Sequence& seq);
  int seats_used() const;
  static void erase_id(std::vector<SequenceId>& ids, SequenceId id);

  SchedulerConfig config_;
  KVCacheManager& kv_;
  std::map<SequenceId, Sequence> sequences_;
  std::vector<SequenceId> waiting_;
  std::vector<SequenceId> running_;
  std::vector<SequenceId> swapped_;
  int64_t preemptions_ = 0;
  int64_t swap_outs_ = 0;
};

}  // namespace strata
