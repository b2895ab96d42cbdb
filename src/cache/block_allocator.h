#pragma once
// The KV block allocator (mechanism): a free list of block ids and a reference count per
// block. A block is shared by taking another reference (forked sequences, the prefix
// cache); it returns to the free list when its last reference is released. It knows
// nothing about requests or tokens.
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace strata {

// Told of every change of a block's reference count: the prefix cache follows which of
// its blocks sequences hold, so that it keeps its evictable blocks without rescanning.
class BlockRefObserver {
 public:
  virtual void ref_count_changed(int32_t block, int before, int after) = 0;

 protected:
  ~BlockRefObserver() = default;
};

class BlockAllocator {
 public:
  explicit BlockAllocator(int num_blocks);

  // At most one observer; nullptr removes it.
  void set_observer(BlockRefObserver* observer) { observer_ = observer; }

  int num_blocks() const { return static_cast<int>(ref_counts_.size()); }
  int num_free() const { return static_cast<int>(free_list_.size()); }
  int num_used() const { return num_blocks() - num_free(); }

  // A free block with one reference, or nullopt when none is free.
  std::optional<int32_t> allocate();
  // Another holder of an allocated block (fork / share).
  void add_ref(int32_t block);
  // Drops one reference; returns true when the block became free.
  bool release(int32_t block);
  int ref_count(int32_t block) const;

 private:
  void check(int32_t block) const;
  void changed(int32_t block, int before, int after) {
    if (observer_) observer_->ref_count_changed(block, before, after);
  }

  BlockRefObserver* observer_ = nullptr;
  std::vector<int32_t> ref_counts_;
  // Lowest ids are handed out first (popped from the back), which keeps tests readable.
  std::vector<int32_t> free_list_;
};

// A sequence's KV blocks in order: block i holds token positions [i*B, (i+1)*B).
struct BlockTable {
  std::vector<int32_t> blocks;

  int size() const { return static_cast<int>(blocks.size()); }
  // Blocks needed to hold `num_tokens` tokens of `block_size`.
  static int blocks_for(int num_tokens, int block_size) {
    return (num_tokens + block_size - 1) / block_size;
  }
};

// One block copy (source, destination): copy-on-write or a swap between tiers.
using BlockCopy = std::pair<int32_t, int32_t>;

// Copy-on-write: before block `index` of `table` is written, it must be held by this
// table alone. If it is shared, a fresh block replaces it and the returned copy says
// which data to duplicate; nullopt means it is already writable. Throws Error when no
// block is free (callers check availability first).
std::optional<BlockCopy> ensure_writable(BlockAllocator& allocator, BlockTable& table, int index);

// Shares every block of `table` with a new table (one more reference each).
BlockTable fork_table(BlockAllocator& allocator, const BlockTable& table);

// Releases every block of `table` and empties it.
void release_table(BlockAllocator& allocator, BlockTable& table);

}  // namespace strata
