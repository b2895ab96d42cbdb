#pragma once
// What the scheduler asks of the KV cache, in its own verbs: can these blocks be had,
// grow a sequence's table, copy-on-write, share, free, look up and record cached
// prefixes, and swap a table to host blocks and back. It owns the device block
// allocator, the optional prefix cache and the host (swap) block allocator; it holds no
// KV data itself, so it runs without a model. Block copies it decides are returned to
// the caller, who performs them before the step's forward pass.
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "cache/block_allocator.h"
#include "cache/prefix_cache.h"

namespace strata {

struct KVCacheConfig {
  int num_blocks = 0;
  int block_size = 16;
  int num_host_blocks = 0;  // swap space
  bool enable_prefix_caching = true;
};

class KVCacheManager {
 public:
  explicit KVCacheManager(const KVCacheConfig& config);

  int block_size() const { return config_.block_size; }
  int num_blocks() const { return device_.num_blocks(); }
  int num_host_blocks() const { return host_.num_blocks(); }
  int num_free_blocks() const { return device_.num_free(); }
  int num_free_host_blocks() const { return host_.num_free(); }
  // Free blocks plus cached blocks that could be evicted for space.
  int num_available_blocks() const;
  bool can_allocate(int n) const;

  // Appends blocks so `table` holds `num_tokens` tokens, evicting cached blocks if
  // needed. Returns false and leaves the table unchanged when there are too few.
  bool grow(BlockTable& table, int num_tokens);
  // Copy-on-write for block `index` of `table` (see ensure_writable in block_allocator.h).
  // Returns false when a copy is needed but no block can be had.
  bool make_writable(BlockTable& table, int index, std::vector<BlockCopy>& copies);
  BlockTable fork(const BlockTable& table) { return fork_table(device_, table); }
  void free(BlockTable& table) { release_table(device_, table); }
  void free_blocks(std::vector<int32_t>& blocks) {
    for (int32_t b : blocks) device_.release(b);
    blocks.clear();
  }

  // Prefix caching (no-ops when disabled).
  bool prefix_caching() const { return prefix_cache_ != nullptr; }
  PrefixMatch match_prefix(std::span<const int32_t> tokens, int max_blocks);
  void record_lookup(int hit_tokens, int queried_tokens);
  // Records the first `num_full_blocks` blocks of `table` as holding those tokens.
  void cache_blocks(std::span<const int32_t> tokens, const BlockTable& table, int num_full_blocks);
  PrefixCacheStats prefix_stats() const;

  // Swapping: moves a table's data to host blocks (the table then names host blocks) and
  // back. Host blocks released by a swap-in return to the free list only at the next
  // begin_step(), so a swap-out decided in the same step never overwrites them before
  // they are read.
  bool can_swap_out(const BlockTable& table) const { return host_.num_free() >= table.size(); }
  std::vector<BlockCopy> swap_out(BlockTable& table);
  bool can_swap_in(const BlockTable& host_table) const { return can_allocate(host_table.size()); }
  std::vector<BlockCopy> swap_in(BlockTable& host_table);
  void free_host(BlockTable& host_table) { release_table(host_, host_table); }
  void begin_step();

  // Blocks held by sequences: neither free nor held by the prefix cache alone.
  int num_blocks_in_use() const;
  // The leak check: every device block is free or held only by the prefix cache, and
  // every host block is free (or awaiting begin_step).
  bool all_blocks_released() const;
  const BlockAllocator& device_allocator() const { return device_; }

 private:
  std::optional<int32_t> allocate_block();

  KVCacheConfig config_;
  BlockAllocator device_;
  BlockAllocator host_;
  std::unique_ptr<PrefixCache> prefix_cache_;
  std::vector<int32_t> deferred_host_frees_;
};

}  // namespace strata
