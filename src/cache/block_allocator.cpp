#include "cache/block_allocator.h"

#include <string>

#include "core/error.h"

namespace strata {

BlockAllocator::BlockAllocator(int num_blocks) {
  if (num_blocks < 0) throw InvalidArgument("num_blocks", "negative number of KV blocks");
  ref_counts_.assign(static_cast<size_t>(num_blocks), 0);
  free_list_.reserve(static_cast<size_t>(num_blocks));
  for (int32_t b = num_blocks - 1; b >= 0; --b) free_list_.push_back(b);
}

void BlockAllocator::check(int32_t block) const {
  if (block < 0 || block >= num_blocks())
    throw Error("KV block id " + std::to_string(block) + " out of range [0, " +
                std::to_string(num_blocks()) + ")");
}

std::optional<int32_t> BlockAllocator::allocate() {
  if (free_list_.empty()) return std::nullopt;
  const int32_t block = free_list_.back();
  free_list_.pop_back();
  ref_counts_[static_cast<size_t>(block)] = 1;
  changed(block, 0, 1);
  return block;
}

void BlockAllocator::add_ref(int32_t block) {
  check(block);
  auto& count = ref_counts_[static_cast<size_t>(block)];
  if (count == 0) throw Error("add_ref on free KV block " + std::to_string(block));
  const int after = ++count;
  changed(block, after - 1, after);
}

bool BlockAllocator::release(int32_t block) {
  check(block);
  auto& count = ref_counts_[static_cast<size_t>(block)];
  if (count == 0) throw Error("release of free KV block " + std::to_string(block));
  const int after = --count;
  if (after == 0) free_list_.push_back(block);
  changed(block, after + 1, after);
  return after == 0;
}

int BlockAllocator::ref_count(int32_t block) const {
  check(block);
  return ref_counts_[static_cast<size_t>(block)];
}

std::optional<BlockCopy> ensure_writable(BlockAllocator& allocator, BlockTable& table, int index) {
  auto& slot = table.blocks.at(static_cast<size_t>(index));
  if (allocator.ref_count(slot) == 1) return std::nullopt;
  const auto fresh = allocator.allocate();
  if (!fresh) throw Error("no free KV block for copy-on-write");
  const BlockCopy copy{slot, *fresh};
  allocator.release(slot);
  slot = *fresh;
  return copy;
}

BlockTable fork_table(BlockAllocator& allocator, const BlockTable& table) {
  for (int32_t b : table.blocks) allocator.add_ref(b);
  return table;
}

void release_table(BlockAllocator& allocator, BlockTable& table) {
  for (int32_t b : table.blocks) allocator.release(b);
  table.blocks.clear();
}

}  // namespace strata
