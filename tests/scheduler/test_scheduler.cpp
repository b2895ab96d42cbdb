#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace strata {
namespace {

// Drives a scheduler as the engine would, without a model: every sequence that wants
// logits gets one more token, and stops after `target` tokens.
struct Driver {
  KVCacheManager kv;
  Scheduler scheduler;
  std::map<SequenceId, int> target_length;
  std::vector<SequenceId> finished;
  uint64_t next_arrival = 0;

  Driver(KVCacheConfig kv_config, SchedulerConfig config) : kv(kv_config), scheduler(config, kv) {}

  void add(SequenceId id, int prompt_len, int new_tokens, int priority = 0, int32_t first_token = 1) {
    Sequence s;
    s.id = id;
    s.priority = priority;
    s.arrival = next_arrival++;
    for (int i = 0; i < prompt_len; ++i) s.tokens.push_back(first_token + i);
    s.num_prompt_tokens = prompt_len;
    target_length[id] = prompt_len + new_tokens;
    scheduler.add(std::move(s));
  }

  BatchPlan step() {
    BatchPlan plan = scheduler.schedule();
    scheduler.complete(plan);
    for (const auto& s : plan.sequences) {
      if (!s.wants_logits) continue;
      scheduler.append_token(s.id, 1000 + static_cast<int32_t>(s.id));
      if (static_cast<int>(scheduler.sequence(s.id).tokens.size()) >= target_length[s.id]) {
        scheduler.remove(s.id);
        finished.push_back(s.id);
      }
    }
    return plan;
  }

  int run_to_completion(int max_steps) {
    int steps = 0;
    while (!scheduler.idle() && steps < max_steps) {
      step();
      ++steps;
    }
    return steps;
  }
};

KVCacheConfig kv_config(int blocks, int block_size = 4, int host_blocks = 0, bool prefix = false) {
  return KVCacheConfig{blocks, block_size, host_blocks, prefix};
}

TEST(Scheduler, LongPromptIsChunkedWithinTheTokenBudget) {
  Driver d(kv_config(64), {.max_num_seqs = 4, .max_batched_tokens = 10});
  d.add(1, 35, 3);
  std::vector<int> chunk_sizes;
  while (!d.scheduler.idle()) {
    BatchPlan plan = d.step();
    EXPECT_LE(plan.num_tokens, 10);
    ASSERT_EQ(plan.sequences.size(), 1u);
    chunk_sizes.push_back(static_cast<int>(plan.sequences[0].tokens.size()));
  }
  EXPECT_EQ(chunk_sizes, (std::vector<int>{10, 10, 10, 5, 1, 1}));
}

TEST(Scheduler, DecodesRunEveryStepWhileALongPromptIsPrefilled) {
  Driver d(kv_config(128), {.max_num_seqs = 8, .max_batched_tokens = 8});
  d.add(1, 3, 50);
  d.add(2, 3, 50);
  d.step();  // both prompts computed
  d.add(3, 60, 2);
  for (int i = 0; i < 10; ++i) {
    BatchPlan plan = d.step();
    EXPECT_LE(plan.num_tokens, 8);
    std::set<SequenceId> ids;
    for (const auto& s : plan.sequences) ids.insert(s.id);
    EXPECT_TRUE(ids.count(1) && ids.count(2)) << "a decode stalled at step " << i;
    EXPECT_EQ(plan.sequences.front().tokens.size(), 1u);  // decodes come first
  }
}

TEST(Scheduler, PriorityThenArrivalDecidesAdmission) {
  Driver d(kv_config(64), {.max_num_seqs = 1, .max_batched_tokens = 64});
  d.add(1, 4, 1, /*priority=*/5);
  d.add(2, 4, 1, /*priority=*/0);
  d.add(3, 4, 1, /*priority=*/0);
  d.run_to_completion(100);
  EXPECT_EQ(d.finished, (std::vector<SequenceId>{2, 3, 1}));
}

TEST(Scheduler, MaxNumSeqsLimitsRunningSeats) {
  Driver d(kv_config(256), {.max_num_seqs = 3, .max_batched_tokens = 256});
  for (SequenceId id = 0; id < 10; ++id) d.add(id, 5, 5);
  while (!d.scheduler.idle()) {
    BatchPlan plan = d.step();
    EXPECT_LE(plan.sequences.size(), 3u);
    EXPECT_LE(d.scheduler.counts().running, 3);
  }
  EXPECT_EQ(d.finished.size(), 10u);
}

TEST(Scheduler, PreemptsTheLeastImportantLatestArrival) {
  // 6 blocks of 4 tokens; three sequences of 8 prompt tokens each take 2 blocks and need
  // a third to decode: the latest arrival of the worst priority must go.
  Driver d(kv_config(6), {.max_num_seqs = 8, .max_batched_tokens = 64});
  d.add(1, 8, 8, /*priority=*/0);
  d.add(2, 8, 8, /*priority=*/1);
  d.add(3, 8, 8, /*priority=*/0);
  BatchPlan first = d.step();
  EXPECT_EQ(first.sequences.size(), 3u);
  BatchPlan second = d.step();
  ASSERT_FALSE(second.preempted.empty());
  EXPECT_EQ(second.preempted.front(), 2);
  EXPECT_EQ(d.scheduler.sequence(2).status, SequenceStatus::Waiting);
  EXPECT_EQ(d.scheduler.sequence(2).num_computed, 0);
  d.run_to_completion(200);
  EXPECT_EQ(d.finished.size(), 3u);
  EXPECT_TRUE(d.kv.all_blocks_released());
}

TEST(Scheduler, SwapPreemptionMovesBlocksToHostAndBack) {
  // 6 blocks of 4 tokens, three sequences of 8 prompt + 8 new tokens. The first decode
  // step swaps out sequence 3 (2 blocks: 8 computed tokens); a later step, when 1 and 2
  // cross into their fourth block, swaps out sequence 2 with 12 computed tokens (3
  // blocks). A correct swap-in brings back exactly the host blocks its sequence was
  // swapped out to: every block holding a computed token, no more, no fewer.
  Driver d(kv_config(6, 4, /*host_blocks=*/16), {.max_num_seqs = 8, .max_batched_tokens = 64,
                                                 .preemption = PreemptionMode::Swap});
  d.add(1, 8, 8);
  d.add(2, 8, 8);
  d.add(3, 8, 8);
  d.step();
  BatchPlan second = d.step();
  ASSERT_EQ(second.preempted, (std::vector<SequenceId>{3}));
  EXPECT_EQ(second.swap_out.size(), 2u);
  EXPECT_EQ(d.scheduler.sequence(3).status, SequenceStatus::Swapped);
  EXPECT_EQ(d.scheduler.sequence(3).num_computed, 8);  // keeps its computed prompt

  std::map<SequenceId, std::vector<int32_t>> host_blocks_of{{3, d.scheduler.sequence(3).blocks.blocks}};
  std::map<SequenceId, int> computed_at_swap_out{{3, 8}};
  std::map<SequenceId, int> swap_ins;
  while (!d.scheduler.idle()) {
    std::map<SequenceId, SequenceStatus> before;
    for (SequenceId id : {1, 2, 3})
      if (d.scheduler.contains(id)) before[id] = d.scheduler.sequence(id).status;
    BatchPlan plan = d.step();
    for (SequenceId id : plan.preempted) {
      ASSERT_EQ(d.scheduler.sequence(id).status, SequenceStatus::Swapped);
      host_blocks_of[id] = d.scheduler.sequence(id).blocks.blocks;
      computed_at_swap_out[id] = d.scheduler.sequence(id).num_computed;
      EXPECT_EQ(static_cast<int>(host_blocks_of[id].size()), BlockTable::blocks_for(computed_at_swap_out[id], 4));
    }
    std::multiset<int32_t> expected_sources, sources;
    for (const auto& [id, status] : before)
      if (status == SequenceStatus::Swapped && (!d.scheduler.contains(id) || d.scheduler.sequence(id).status ==
                                                                                 SequenceStatus::Running)) {
        expected_sources.insert(host_blocks_of[id].begin(), host_blocks_of[id].end());
        ++swap_ins[id];
      }
    for (const auto& [host, device] : plan.swap_in) sources.insert(host);
    EXPECT_EQ(sources, expected_sources);
  }
  EXPECT_EQ(swap_ins, (std::map<SequenceId, int>{{2, 1}, {3, 1}}));
  EXPECT_EQ(computed_at_swap_out, (std::map<SequenceId, int>{{2, 12}, {3, 8}}));
  EXPECT_EQ(d.finished.size(), 3u);
  EXPECT_TRUE(d.kv.all_blocks_released());
}

TEST(Scheduler, PrefixHitNeverCoversTheWholePrompt) {
  Driver d(kv_config(32, 4, 0, /*prefix=*/true), {.max_num_seqs = 4, .max_batched_tokens = 64});
  d.add(1, 8, 1);
  d.run_to_completion(10);
  d.add(2, 8, 1);  // same 8 tokens: two whole cached blocks, but one token must be computed
  BatchPlan plan = d.step();
  ASSERT_EQ(plan.sequences.size(), 1u);
  EXPECT_EQ(plan.sequences[0].num_cached, 4);
  EXPECT_EQ(plan.sequences[0].tokens.size(), 4u);
  d.add(3, 12, 1);  // shares the first 8 tokens
  plan = d.step();
  EXPECT_EQ(plan.sequences.back().num_cached, 8);
  EXPECT_GT(d.kv.prefix_stats().hit_tokens, 0);
}

TEST(Scheduler, ABurstSharingAPrefixComputesItOnce) {
  for (bool prefix_caching : {true, false}) {
    Driver d(kv_config(64, 4, 0, prefix_caching), {.max_num_seqs = 8, .max_batched_tokens = 64});
    d.add(1, 12, 2);                      // tokens 1..12
    d.add(2, 14, 2);                      // tokens 1..14: shares 3 whole blocks with 1
    d.add(3, 10, 2, 0, /*first_token=*/50);  // unrelated
    BatchPlan first = d.step();
    std::map<SequenceId, int> cached;
    for (const auto& s : first.sequences) cached[s.id] = s.num_cached;
    if (prefix_caching) {
      // 2 waits one step for 1's blocks instead of computing them again; 3 is not held up.
      EXPECT_EQ(cached, (std::map<SequenceId, int>{{1, 0}, {3, 0}}));
      BatchPlan second = d.step();
      ASSERT_EQ(second.sequences.size(), 3u);
      EXPECT_EQ(second.sequences.back().id, 2);
      EXPECT_EQ(second.sequences.back().num_cached, 12);
    } else {
      EXPECT_EQ(cached, (std::map<SequenceId, int>{{1, 0}, {2, 0}, {3, 0}}));
    }
    d.run_to_completion(100);
    EXPECT_EQ(d.finished.size(), 3u);
    EXPECT_TRUE(d.kv.all_blocks_released());
  }
}

TEST(Scheduler, ForkSharesBlocksAndCopiesTheLastOnWrite) {
  Driver d(kv_config(32), {.max_num_seqs = 4, .max_batched_tokens = 64});
  d.add(1, 6, 10);
  d.scheduler.sequence(1).seats = 3;
  BatchPlan plan = d.scheduler.schedule();
  d.scheduler.complete(plan);
  d.scheduler.fork(1, {2, 3});
  EXPECT_EQ(d.scheduler.counts().running, 3);
  for (SequenceId id : {1, 2, 3}) d.scheduler.append_token(id, 500 + static_cast<int32_t>(id));
  const int32_t shared_tail = d.scheduler.sequence(1).blocks.blocks[1];
  plan = d.scheduler.schedule();
  EXPECT_EQ(plan.sequences.size(), 3u);
  EXPECT_EQ(plan.copies.size(), 2u);  // two of three copy the shared partial block
  for (const auto& c : plan.copies) EXPECT_EQ(c.first, shared_tail);
  std::set<int32_t> tails;
  for (const auto& s : plan.sequences) tails.insert(s.block_table[1]);
  EXPECT_EQ(tails.size(), 3u);
  for (const auto& s : plan.sequences) EXPECT_EQ(s.block_table[0], plan.sequences[0].block_table[0]);
  for (SequenceId id : {1, 2, 3}) d.scheduler.remove(id);
  EXPECT_TRUE(d.kv.all_blocks_released());
}

TEST(Scheduler, RandomWorkloadUnderMemoryPressureFinishesEverythingWithoutLeaks) {
  for (PreemptionMode mode : {PreemptionMode::Recompute, PreemptionMode::Swap}) {
    for (uint32_t seed = 0; seed < 5; ++seed) {
      std::mt19937 rng(seed);
      Driver d(kv_config(24, 4, 12, /*prefix=*/seed % 2 == 0),
               {.max_num_seqs = 6, .max_batched_tokens = 16, .preemption = mode});
      SequenceId next_id = 0;
      std::uniform_int_distribution<int> prompt(1, 40), output(1, 30), prio(0, 2), coin(0, 3);
      int steps = 0;
      while ((next_id < 60 || !d.scheduler.idle()) && steps < 20000) {
        if (next_id < 60 && coin(rng) == 0) {
          const int p = prompt(rng), o = output(rng);
          if (d.scheduler.can_ever_fit(p + o)) d.add(next_id, p, o, prio(rng), static_cast<int32_t>(next_id % 3));
          else d.finished.push_back(next_id);
          ++next_id;
        }
        BatchPlan plan = d.step();
        EXPECT_LE(plan.num_tokens, 16);
        ++steps;
      }
      EXPECT_EQ(d.finished.size(), 60u) << "seed " << seed;
      EXPECT_TRUE(d.scheduler.idle());
      EXPECT_TRUE(d.kv.all_blocks_released());
    }
  }
}

}  // namespace
}  // namespace strata
