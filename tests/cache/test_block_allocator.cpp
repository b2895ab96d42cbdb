#include "cache/block_allocator.h"

#include <gtest/gtest.h>

#include <set>

#include "core/error.h"

namespace strata {
namespace {

TEST(BlockAllocator, AllocatesEveryBlockOnceThenRunsOut) {
  BlockAllocator allocator(4);
  std::set<int32_t> seen;
  for (int i = 0; i < 4; ++i) {
    auto b = allocator.allocate();
    ASSERT_TRUE(b.has_value());
    EXPECT_TRUE(seen.insert(*b).second);
    EXPECT_EQ(allocator.ref_count(*b), 1);
  }
  EXPECT_FALSE(allocator.allocate().has_value());
  EXPECT_EQ(allocator.num_free(), 0);
}

TEST(BlockAllocator, SharedBlockIsFreedByItsLastHolder) {
  BlockAllocator allocator(2);
  const int32_t b = *allocator.allocate();
  allocator.add_ref(b);
  EXPECT_FALSE(allocator.release(b));
  EXPECT_EQ(allocator.num_free(), 1);
  EXPECT_TRUE(allocator.release(b));
  EXPECT_EQ(allocator.num_free(), 2);
  EXPECT_THROW(allocator.release(b), Error);
  EXPECT_THROW(allocator.add_ref(b), Error);
  EXPECT_THROW(allocator.ref_count(7), Error);
}

TEST(BlockAllocator, CopyOnWriteOnlyWhenShared) {
  BlockAllocator allocator(4);
  BlockTable parent{{*allocator.allocate(), *allocator.allocate()}};
  EXPECT_FALSE(ensure_writable(allocator, parent, 1).has_value());

  BlockTable child = fork_table(allocator, parent);
  EXPECT_EQ(child.blocks, parent.blocks);
  EXPECT_EQ(allocator.ref_count(parent.blocks[1]), 2);

  const int32_t shared_last = child.blocks[1];
  auto copy = ensure_writable(allocator, child, 1);
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(copy->first, shared_last);
  EXPECT_EQ(copy->second, child.blocks[1]);
  EXPECT_NE(child.blocks[1], parent.blocks[1]);
  EXPECT_EQ(allocator.ref_count(parent.blocks[1]), 1);
  EXPECT_EQ(child.blocks[0], parent.blocks[0]);  // the full first block stays shared
  // The parent now holds its last block alone: no copy.
  EXPECT_FALSE(ensure_writable(allocator, parent, 1).has_value());

  release_table(allocator, child);
  release_table(allocator, parent);
  EXPECT_EQ(allocator.num_free(), 4);
}

TEST(BlockAllocator, CopyOnWriteWithoutFreeBlockThrows) {
  BlockAllocator allocator(1);
  BlockTable a{{*allocator.allocate()}};
  BlockTable b = fork_table(allocator, a);
  EXPECT_THROW(ensure_writable(allocator, b, 0), Error);
}

}  // namespace
}  // namespace strata
