#include "cache/prefix_cache.h"

#include <gtest/gtest.h>

#include <numeric>

#include "cache/kv_cache_manager.h"

namespace strata {
namespace {

std::vector<int32_t> iota_tokens(int n, int32_t start = 0) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

// Allocates blocks for `tokens` and records them, as a finished sequence would.
BlockTable fill(BlockAllocator& allocator, PrefixCache& cache, const std::vector<int32_t>& tokens,
                int block_size) {
  BlockTable table;
  for (int i = 0; i < BlockTable::blocks_for(static_cast<int>(tokens.size()), block_size); ++i)
    table.blocks.push_back(*allocator.allocate());
  cache.insert(tokens, table.blocks);
  return table;
}

TEST(PrefixCache, MatchesWholeBlocksOfTheLongestPrefix) {
  BlockAllocator allocator(16);
  PrefixCache cache(allocator, 4);
  const auto tokens = iota_tokens(10);  // two whole blocks and a partial one
  BlockTable table = fill(allocator, cache, tokens, 4);
  EXPECT_EQ(cache.num_cached_blocks(), 2);
  release_table(allocator, table);
  EXPECT_EQ(allocator.num_used(), 2);  // the cache keeps its two blocks

  auto query = iota_tokens(12);
  query[6] = 99;  // differs inside the second block
  PrefixMatch m = cache.match(query, 100);
  ASSERT_EQ(m.blocks.size(), 1u);
  EXPECT_EQ(m.num_cached_tokens, 4);
  EXPECT_EQ(allocator.ref_count(m.blocks[0]), 2);  // the caller's reference

  PrefixMatch full = cache.match(iota_tokens(12), 100);
  EXPECT_EQ(full.num_cached_tokens, 8);
  PrefixMatch limited = cache.match(iota_tokens(12), 1);
  EXPECT_EQ(limited.num_cached_tokens, 4);

  PrefixMatch none = cache.match(iota_tokens(8, 1), 100);
  EXPECT_TRUE(none.blocks.empty());
}

TEST(PrefixCache, SaltSeparatesOtherwiseEqualKeys) {
  BlockAllocator allocator(8);
  PrefixCache cache(allocator, 4);
  const auto tokens = iota_tokens(8);
  BlockTable table{{*allocator.allocate(), *allocator.allocate()}};
  cache.insert(tokens, table.blocks, /*salt=*/7);
  EXPECT_TRUE(cache.match(tokens, 10, 0).blocks.empty());
  EXPECT_EQ(cache.match(tokens, 10, 7).blocks.size(), 2u);
}

TEST(PrefixCache, EvictsLeastRecentlyUsedUnreferencedLeavesOnly) {
  BlockAllocator allocator(8);
  PrefixCache cache(allocator, 2);
  BlockTable a = fill(allocator, cache, {1, 2, 3, 4}, 2);   // path of two blocks
  BlockTable b = fill(allocator, cache, {5, 6}, 2);         // one block
  release_table(allocator, a);
  // b is still referenced by its sequence: only a's two blocks can go.
  EXPECT_EQ(cache.num_evictable(), 2);
  // Only a leaf can go: a's second block, not its first.
  EXPECT_EQ(cache.evict(1), 1);
  EXPECT_EQ(cache.match(std::vector<int32_t>{1, 2, 3, 4}, 10).num_cached_tokens, 2);
  release_table(allocator, b);
  EXPECT_EQ(cache.stats().evictions, 1);
}

TEST(PrefixCache, EvictionOrderFollowsLastUse) {
  BlockAllocator allocator(8);
  PrefixCache cache(allocator, 2);
  BlockTable a = fill(allocator, cache, {1, 2}, 2);
  BlockTable b = fill(allocator, cache, {3, 4}, 2);
  release_table(allocator, a);
  release_table(allocator, b);
  // Use a again (then drop the reference): b is now the least recently used.
  PrefixMatch m = cache.match(std::vector<int32_t>{1, 2}, 10);
  BlockTable held{m.blocks};
  release_table(allocator, held);
  EXPECT_EQ(cache.evict(1), 1);
  EXPECT_EQ(cache.match(std::vector<int32_t>{3, 4}, 10).num_cached_tokens, 0);
  PrefixMatch again = cache.match(std::vector<int32_t>{1, 2}, 10);
  EXPECT_EQ(again.num_cached_tokens, 2);
  BlockTable again_held{again.blocks};
  release_table(allocator, again_held);
  EXPECT_EQ(cache.evict(10), 1);
  EXPECT_EQ(allocator.num_free(), 8);
}

TEST(KVCacheManager, GrowEvictsCachedBlocksWhenFreeOnesRunOut) {
  KVCacheManager kv({.num_blocks = 4, .block_size = 2, .num_host_blocks = 0, .enable_prefix_caching = true});
  BlockTable t;
  ASSERT_TRUE(kv.grow(t, 8));
  const std::vector<int32_t> tokens{1, 2, 3, 4, 5, 6, 7, 8};
  kv.cache_blocks(tokens, t, 4);
  kv.free(t);
  EXPECT_EQ(kv.num_free_blocks(), 0);
  EXPECT_EQ(kv.num_available_blocks(), 4);
  EXPECT_TRUE(kv.all_blocks_released());
  BlockTable u;
  ASSERT_TRUE(kv.grow(u, 3));
  EXPECT_EQ(u.size(), 2);
  EXPECT_EQ(kv.prefix_stats().evictions, 2);
  EXPECT_FALSE(kv.all_blocks_released());
  EXPECT_FALSE(kv.grow(u, 20));
  EXPECT_EQ(u.size(), 2);  // unchanged on failure
  kv.free(u);
  EXPECT_TRUE(kv.all_blocks_released());
}

TEST(KVCacheManager, SwapOutAndInMovesEveryBlock) {
  KVCacheManager kv({.num_blocks = 4, .block_size = 2, .num_host_blocks = 3, .enable_prefix_caching = false});
  BlockTable t;
  ASSERT_TRUE(kv.grow(t, 5));
  const auto device_blocks = t.blocks;
  ASSERT_TRUE(kv.can_swap_out(t));
  auto out = kv.swap_out(t);
  ASSERT_EQ(out.size(), 3u);
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].first, device_blocks[i]);
    EXPECT_EQ(out[i].second, t.blocks[i]);  // the table now names host blocks
  }
  EXPECT_EQ(kv.num_free_blocks(), 4);
  EXPECT_EQ(kv.num_free_host_blocks(), 0);
  auto in = kv.swap_in(t);
  ASSERT_EQ(in.size(), 3u);
  EXPECT_EQ(kv.num_free_blocks(), 1);
  EXPECT_EQ(kv.num_free_host_blocks(), 0);  // released only at the next step
  kv.begin_step();
  EXPECT_EQ(kv.num_free_host_blocks(), 3);
  kv.free(t);
  EXPECT_TRUE(kv.all_blocks_released());
}

}  // namespace
}  // namespace strata
