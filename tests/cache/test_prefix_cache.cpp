#include "cache/prefix_cache.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

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

// Seeded random admissions (prompts sharing prefixes, the same prompt computed twice at
// once, as concurrent requests do), forks, releases and evictions: after each, the kept
// evictable state equals a walk of the tree (check_consistency), and an eviction frees
// what num_evictable() promised.
TEST(PrefixCache, KeptEvictableStateMatchesTheTreeUnderRandomUse) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    const int block_size = 2, num_blocks = 48;
    BlockAllocator allocator(num_blocks);
    PrefixCache cache(allocator, block_size);
    std::vector<BlockTable> live;
    const auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    for (int op = 0; op < 400; ++op) {
      const int kind = pick(10);
      if (kind < 4) {  // admit: a prompt of 1..8 blocks over a 3-token alphabet (many shared prefixes)
        std::vector<int32_t> tokens(static_cast<size_t>(block_size * (1 + pick(8))));
        for (auto& t : tokens) t = pick(3);
        PrefixMatch m = cache.match(tokens, 100);
        BlockTable table{m.blocks};
        const int needed = static_cast<int>(tokens.size()) / block_size - table.size();
        if (needed > allocator.num_free()) cache.evict(needed - allocator.num_free());
        bool ok = true;
        for (int i = 0; i < needed && ok; ++i) {
          if (auto b = allocator.allocate()) table.blocks.push_back(*b);
          else ok = false;
        }
        if (ok) cache.insert(tokens, table.blocks);
        live.push_back(std::move(table));
      } else if (kind < 5 && !live.empty()) {
        live.push_back(fork_table(allocator, live[static_cast<size_t>(pick(static_cast<int>(live.size())))]));
      } else if (kind < 8 && !live.empty()) {
        const size_t i = static_cast<size_t>(pick(static_cast<int>(live.size())));
        release_table(allocator, live[i]);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        const int before = cache.num_evictable(), n = pick(6);
        ASSERT_EQ(cache.evict(n), std::min(n, before)) << "seed " << seed << " op " << op;
      }
      ASSERT_NO_THROW(cache.check_consistency()) << "seed " << seed << " op " << op;
    }
    for (auto& t : live) release_table(allocator, t);
    ASSERT_NO_THROW(cache.check_consistency());
    const int cached = cache.num_cached_blocks();
    EXPECT_EQ(cache.num_evictable(), cached) << "seed " << seed;
    EXPECT_EQ(cache.evict(num_blocks), cached) << "seed " << seed;
    EXPECT_EQ(allocator.num_free(), num_blocks) << "seed " << seed;
  }
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
