#include "scheduler/scheduler.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "core/error.h"

namespace strata {

struct Scheduler::StepState {
  BatchPlan plan;
  int budget = 0;
  bool preempted = false;
  std::vector<SequenceId> scheduled;  // looked through only when preempting
};

Scheduler::Scheduler(const SchedulerConfig& config, KVCacheManager& kv) : config_(config), kv_(kv) {
  if (config.max_num_seqs <= 0) throw InvalidArgument("max_num_seqs", "max_num_seqs must be positive");
  if (config.max_batched_tokens <= 0)
    throw InvalidArgument("max_batched_tokens", "max_batched_tokens must be positive");
}

bool Scheduler::can_ever_fit(int max_total_tokens) const {
  return BlockTable::blocks_for(max_total_tokens, kv_.block_size()) <= kv_.num_blocks();
}

void Scheduler::add(Sequence sequence) {
  if (sequences_.count(sequence.id)) throw Error("sequence id added twice: " + std::to_string(sequence.id));
  if (sequence.tokens.empty()) throw InvalidArgument("prompt", "a sequence needs at least one token");
  sequence.status = SequenceStatus::Waiting;
  sequence.num_computed = 0;
  sequence.blocks.blocks.clear();
  waiting_.push_back(sequence.id);
  sequences_.emplace(sequence.id, std::move(sequence));
}

Sequence& Scheduler::sequence(SequenceId id) {
  auto it = sequences_.find(id);
  if (it == sequences_.end()) throw Error("unknown sequence id " + std::to_string(id));
  return it->second;
}

std::vector<SequenceId> Scheduler::sorted(const std::vector<SequenceId>& ids) const {
  // Each key looked up once, then sorted (not two map lookups per comparison); keys end
  // with the id, so no two are equal.
  using Key = decltype(std::declval<const Sequence&>().order_key());
  std::vector<std::pair<Key, SequenceId>> keyed;
  keyed.reserve(ids.size());
  for (SequenceId id : ids) keyed.emplace_back(sequences_.at(id).order_key(), id);
  std::sort(keyed.begin(), keyed.end());
  std::vector<SequenceId> out;
  out.reserve(ids.size());
  for (const auto& entry : keyed) out.push_back(entry.second);
  return out;
}

int Scheduler::seats_used() const {
  int seats = 0;
  for (SequenceId id : running_) seats += sequences_.at(id).seats;
  return seats;
}

void Scheduler::erase_id(std::vector<SequenceId>& ids, SequenceId id) {
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
}

BatchPlan Scheduler::schedule() {
  kv_.begin_step();
  StepState step;
  step.budget = config_.max_batched_tokens;
  schedule_running(step);
  schedule_swapped(step);
  schedule_waiting(step);
  return std::move(step.plan);
}

int Scheduler::reserve(Sequence& seq, int n, bool may_shrink, StepState& step) {
  const int bs = kv_.block_size();
  const int index = seq.num_computed / bs;
  const bool shared_tail = seq.num_computed % bs != 0 && index < seq.blocks.size() &&
                           kv_.device_allocator().ref_count(seq.blocks.blocks[static_cast<size_t>(index)]) > 1;
  const int copy_blocks = shared_tail ? 1 : 0;
  const int new_blocks = std::max(0, BlockTable::blocks_for(seq.num_computed + n, bs) - seq.blocks.size());
  if (!kv_.can_allocate(new_blocks + copy_blocks)) {
    if (!may_shrink) return 0;
    const int spare = kv_.num_available_blocks() - copy_blocks;
    if (spare < 0) return 0;
    const int room = seq.blocks.size() * bs - seq.num_computed;
    n = std::min(n, room + spare * bs);
    if (n <= 0) return 0;
  }
  if (shared_tail && !kv_.make_writable(seq.blocks, index, step.plan.copies))
    throw Error("KV block accounting is inconsistent: copy-on-write failed");
  if (!kv_.grow(seq.blocks, seq.num_computed + n))
    throw Error("KV block accounting is inconsistent: grow failed after reservation");
  return n;
}

void Scheduler::add_to_plan(Sequence& seq, int n, StepState& step) {
  ScheduledSequence s;
  s.id = seq.id;
  const auto first = seq.tokens.begin() + seq.num_computed;
  s.tokens.assign(first, first + n);
  s.num_cached = seq.num_computed;
  s.block_table = seq.blocks.blocks;
  s.wants_logits = seq.num_computed + n == static_cast<int>(seq.tokens.size());
  step.plan.sequences.push_back(std::move(s));
  step.plan.num_tokens += n;
  step.budget -= n;
  step.scheduled.push_back(seq.id);
}

void Scheduler::schedule_running(StepState& step) {
  std::vector<SequenceId> order = sorted(running_);
  // Decodes (one token to compute) first, each group still in importance order.
  std::stable_partition(order.begin(), order.end(), [&](SequenceId id) {
    const Sequence& s = sequences_.at(id);
    return s.num_uncomputed() == 1 && s.num_computed > 0;
  });
  for (size_t i = 0; i < order.size() && step.budget > 0; ++i) {
    Sequence& seq = sequences_.at(order[i]);
    if (seq.status != SequenceStatus::Running) continue;  // preempted earlier in this step
    const int want = std::min(seq.num_uncomputed(), step.budget);
    if (want <= 0) continue;
    while (true) {
      const int n = reserve(seq, want, /*may_shrink=*/want > 1, step);
      if (n > 0) {
        add_to_plan(seq, n, step);
        break;
      }
      std::vector<SequenceId> candidates;
      for (size_t j = i; j < order.size(); ++j)
        if (sequences_.at(order[j]).status == SequenceStatus::Running &&
            std::find(step.scheduled.begin(), step.scheduled.end(), order[j]) == step.scheduled.end())
          candidates.push_back(order[j]);
      if (preempt_least_important(candidates, step) == seq.id) break;
    }
  }
}

void Scheduler::schedule_swapped(StepState& step) {
  if (step.preempted) return;  // space is short this step; bringing others back would thrash
  for (SequenceId id : sorted(swapped_)) {
    Sequence& seq = sequences_.at(id);
    if (seats_used() + seq.seats > config_.max_num_seqs) break;
    // Room for its next token too, unless it will need no more than the whole cache.
    if (!kv_.can_allocate(std::min(seq.blocks.size() + 1, kv_.num_blocks()))) break;
    for (const auto& copy : kv_.swap_in(seq.blocks)) step.plan.swap_in.push_back(copy);
    seq.status = SequenceStatus::Running;
    erase_id(swapped_, id);
    running_.push_back(id);
    if (step.budget <= 0) continue;
    const int n = reserve(seq, std::min(seq.num_uncomputed(), step.budget), true, step);
    if (n > 0) add_to_plan(seq, n, step);
  }
}

void Scheduler::schedule_waiting(StepState& step) {
  if (step.preempted || !swapped_.empty()) return;
  const int bs = kv_.block_size();
  for (SequenceId id : sorted(waiting_)) {
    if (step.budget <= 0) break;
    Sequence& seq = sequences_.at(id);
    if (seats_used() + seq.seats > config_.max_num_seqs) break;
    // Never serve the whole sequence from the cache: its last token must be computed
    // to produce logits.
    const int max_blocks = (static_cast<int>(seq.tokens.size()) - 1) / bs;
    PrefixMatch match = kv_.match_prefix(seq.tokens, max_blocks);
    if (prefix_being_computed(seq, match.num_cached_tokens)) {
      kv_.free_blocks(match.blocks);
      continue;
    }
    seq.blocks.blocks = std::move(match.blocks);
    seq.num_computed = match.num_cached_tokens;
    const int n = reserve(seq, std::min(seq.num_uncomputed(), step.budget), /*may_shrink=*/false, step);
    if (n == 0) {
      kv_.free(seq.blocks);
      seq.num_computed = 0;
      break;
    }
    kv_.record_lookup(match.num_cached_tokens, static_cast<int>(seq.tokens.size()));
    if (seq.first_cached_tokens < 0) seq.first_cached_tokens = match.num_cached_tokens;
    seq.status = SequenceStatus::Running;
    erase_id(waiting_, id);
    running_.push_back(id);
    add_to_plan(seq, n, step);
  }
}

bool Scheduler::prefix_being_computed(const Sequence& seq, int num_cached_tokens) const {
  if (!kv_.prefix_caching()) return false;
  const int bs = kv_.block_size();
  const int max_shared = (static_cast<int>(seq.tokens.size()) - 1) / bs * bs;
  for (SequenceId id : running_) {
    const Sequence& other = sequences_.at(id);
    if (other.num_computed >= other.num_prompt_tokens) continue;  // not prefilling
    const int limit = std::min(max_shared, static_cast<int>(other.tokens.size()));
    const auto mismatch = std::mismatch(seq.tokens.begin(), seq.tokens.begin() + limit, other.tokens.begin());
    const int shared_blocks = static_cast<int>(mismatch.first - seq.tokens.begin()) / bs;
    if (shared_blocks * bs > num_cached_tokens) return true;
  }
  return false;
}

SequenceId Scheduler::preempt_least_important(const std::vector<SequenceId>& candidates,
                                              StepState& step) {
  if (candidates.empty()) throw Error("preemption with no candidate");
  SequenceId victim = candidates.front();
  for (SequenceId id : candidates)
    if (sequences_.at(id).order_key() > sequences_.at(victim).order_key()) victim = id;
  preempt(sequences_.at(victim), step);
  return victim;
}

void Scheduler::preempt(Sequence& seq, StepState& step) {
  erase_id(running_, seq.id);
  if (config_.preemption == PreemptionMode::Swap && seq.num_computed > 0 && kv_.can_swap_out(seq.blocks)) {
    for (const auto& copy : kv_.swap_out(seq.blocks)) step.plan.swap_out.push_back(copy);
    seq.status = SequenceStatus::Swapped;
    swapped_.push_back(seq.id);
    ++swap_outs_;
  } else {
    release_blocks(seq);
    seq.num_computed = 0;
    seq.status = SequenceStatus::Waiting;
    waiting_.push_back(seq.id);
  }
  ++seq.num_preemptions;
  ++preemptions_;
  step.preempted = true;
  step.plan.preempted.push_back(seq.id);
}

void Scheduler::release_blocks(Sequence& seq) {
  if (seq.status == SequenceStatus::Swapped) {
    kv_.free_host(seq.blocks);
    return;
  }
  kv_.cache_blocks(seq.tokens, seq.blocks, seq.num_computed / kv_.block_size());
  kv_.free(seq.blocks);
}

void Scheduler::complete(const BatchPlan& plan) {
  const int bs = kv_.block_size();
  for (const auto& s : plan.sequences) {
    auto it = sequences_.find(s.id);
    if (it == sequences_.end()) continue;
    Sequence& seq = it->second;
    seq.num_computed = s.num_cached + static_cast<int>(s.tokens.size());
    if (seq.num_computed / bs > s.num_cached / bs)
      kv_.cache_blocks(seq.tokens, seq.blocks, seq.num_computed / bs);
  }
}

void Scheduler::append_token(SequenceId id, int32_t token) { sequence(id).tokens.push_back(token); }

void Scheduler::fork(SequenceId parent_id, const std::vector<SequenceId>& child_ids) {
  Sequence& parent = sequence(parent_id);
  if (parent.status != SequenceStatus::Running) throw Error("fork of a sequence that is not running");
  for (SequenceId child_id : child_ids) {
    if (sequences_.count(child_id)) throw Error("fork into an existing sequence id");
    Sequence child = parent;
    child.id = child_id;
    child.seats = 1;
    child.blocks = kv_.fork(parent.blocks);
    running_.push_back(child_id);
    sequences_.emplace(child_id, std::move(child));
  }
  sequence(parent_id).seats = 1;
}

void Scheduler::remove(SequenceId id) {
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return;
  release_blocks(it->second);
  erase_id(waiting_, id);
  erase_id(running_, id);
  erase_id(swapped_, id);
  sequences_.erase(it);
}

SchedulerCounts Scheduler::counts() const {
  return SchedulerCounts{static_cast<int>(waiting_.size()), static_cast<int>(running_.size()),
                         static_cast<int>(swapped_.size()), preemptions_, swap_outs_};
}

}  // namespace strata
