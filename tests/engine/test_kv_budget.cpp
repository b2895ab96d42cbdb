// KV cache sizing: an explicit block count or byte budget wins; the default is a fraction
// of available memory, capped, and never more than the running sequences could use.
#include <gtest/gtest.h>

#include "core/error.h"
#include "engine/llm_engine.h"

namespace strata {
namespace {

constexpr size_t kBlockBytes = 1 << 16;

ModelConfig model_with_context(int context_length) {
  ModelConfig m;
  m.context_length = context_length;
  return m;
}

TEST(KVBudget, ExplicitBlocksThenExplicitBytes) {
  EngineConfig c;
  c.num_kv_blocks = 37;
  c.kv_cache_memory = int64_t{1} << 30;
  EXPECT_EQ(plan_kv_blocks(c, model_with_context(8192), kBlockBytes), 37);
  c.num_kv_blocks = 0;
  EXPECT_EQ(plan_kv_blocks(c, model_with_context(8192), kBlockBytes), (1 << 30) / static_cast<int>(kBlockBytes));
  c.kv_cache_memory = 100;  // less than one block
  EXPECT_THROW(plan_kv_blocks(c, model_with_context(8192), kBlockBytes), InvalidArgument);
}

TEST(KVBudget, DefaultIsCappedByTheCap) {
  EngineConfig c;
  c.kv_cache_memory_fraction = 1.0;
  c.kv_cache_memory_cap = 8 * kBlockBytes;  // any test machine has more memory available
  EXPECT_EQ(plan_kv_blocks(c, model_with_context(1 << 20), kBlockBytes), 8);
}

TEST(KVBudget, DefaultNeverExceedsWhatTheRunningSequencesCanUse) {
  EngineConfig c;
  c.kv_cache_memory_fraction = 1.0;
  c.max_num_seqs = 2;
  c.block_size = 16;
  // Two sequences of 64 tokens use 8 blocks; one more is kept for copy-on-write.
  EXPECT_EQ(plan_kv_blocks(c, model_with_context(64), kBlockBytes), 9);
}

TEST(KVBudget, DefaultIsAtMostFourGibibytes) {
  const EngineConfig c;
  EXPECT_LE(int64_t{plan_kv_blocks(c, model_with_context(1 << 20), kBlockBytes)} * int64_t{kBlockBytes},
            int64_t{4} << 30);
}

}  // namespace
}  // namespace strata
