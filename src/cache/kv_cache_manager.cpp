#include "cache/kv_cache_manager.h"

#include "core/error.h"

namespace strata {

KVCacheManager::KVCacheManager(const KVCacheConfig& config)
    : config_(config), device_(config.num_blocks), host_(config.num_host_blocks) {
  if (config.block_size <= 0) throw InvalidArgument("block_size", "KV block size must be positive");
  if (config.enable_prefix_caching)
    prefix_cache_ = std::make_unique<PrefixCache>(device_, config.block_size);
}

int KVCacheManager::num_available_blocks() const {
  return device_.num_free() + (prefix_cache_ ? prefix_cache_->num_evictable() : 0);
}

bool KVCacheManager::can_allocate(int n) const {
  return n <= device_.num_free() || n <= num_available_blocks();
}

std::optional<int32_t> KVCacheManager::allocate_block() {
  if (auto block = device_.allocate()) return block;
  if (prefix_cache_ && prefix_cache_->evict(1) == 1) return device_.allocate();
  return std::nullopt;
}

bool KVCacheManager::grow(BlockTable& table, int num_tokens) {
  const int needed = BlockTable::blocks_for(num_tokens, config_.block_size) - table.size();
  if (needed <= 0) return true;
  if (!can_allocate(needed)) return false;
  // One eviction pass for the whole shortfall rather than one per block.
  if (prefix_cache_ && needed > device_.num_free()) prefix_cache_->evict(needed - device_.num_free());
  for (int i = 0; i < needed; ++i) {
    const auto block = allocate_block();
    if (!block) throw Error("KV block accounting is inconsistent: no block after can_allocate");
    table.blocks.push_back(*block);
  }
  return true;
}

bool KVCacheManager::make_writable(BlockTable& table, int index, std::vector<BlockCopy>& copies) {
  const int32_t block = table.blocks.at(static_cast<size_t>(index));
  if (device_.ref_count(block) == 1) return true;
  const auto fresh = allocate_block();
  if (!fresh) return false;
  copies.emplace_back(block, *fresh);
  device_.release(block);
  table.blocks[static_cast<size_t>(index)] = *fresh;
  return true;
}

PrefixMatch KVCacheManager::match_prefix(std::span<const int32_t> tokens, int max_blocks) {
  if (!prefix_cache_) return {};
  return prefix_cache_->match(tokens, max_blocks);
}

void KVCacheManager::record_lookup(int hit_tokens, int queried_tokens) {
  if (prefix_cache_) prefix_cache_->record_lookup(hit_tokens, queried_tokens);
}

void KVCacheManager::cache_blocks(std::span<const int32_t> tokens, const BlockTable& table,
                                  int num_full_blocks) {
  if (!prefix_cache_ || num_full_blocks <= 0) return;
  const size_t n = static_cast<size_t>(num_full_blocks);
  prefix_cache_->insert(tokens.first(n * static_cast<size_t>(config_.block_size)),
                        std::span<const int32_t>(table.blocks).first(n));
}

PrefixCacheStats KVCacheManager::prefix_stats() const {
  return prefix_cache_ ? prefix_cache_->stats() : PrefixCacheStats{};
}

std::vector<BlockCopy> KVCacheManager::swap_out(BlockTable& table) {
  if (!can_swap_out(table)) throw Error("not enough swap space to swap out a sequence");
  std::vector<BlockCopy> copies;
  BlockTable host_table;
  for (int32_t block : table.blocks) {
    const int32_t host_block = *host_.allocate();
    copies.emplace_back(block, host_block);
    host_table.blocks.push_back(host_block);
  }
  release_table(device_, table);
  table = std::move(host_table);
  return copies;
}

std::vector<BlockCopy> KVCacheManager::swap_in(BlockTable& host_table) {
  if (!can_swap_in(host_table)) throw Error("not enough KV blocks to swap a sequence in");
  std::vector<BlockCopy> copies;
  BlockTable table;
  for (int32_t host_block : host_table.blocks) {
    const int32_t block = *allocate_block();
    copies.emplace_back(host_block, block);
    table.blocks.push_back(block);
    deferred_host_frees_.push_back(host_block);
  }
  host_table = std::move(table);
  return copies;
}

void KVCacheManager::begin_step() {
  for (int32_t host_block : deferred_host_frees_) host_.release(host_block);
  deferred_host_frees_.clear();
}

int KVCacheManager::num_blocks_in_use() const {
  // Counted as references change, not by a pass over every block (the engine asks each step).
  return device_.num_used() - (prefix_cache_ ? prefix_cache_->num_held_by_cache_alone() : 0);
}

bool KVCacheManager::all_blocks_released() const {
  for (int32_t b = 0; b < device_.num_blocks(); ++b) {
    const int refs = device_.ref_count(b);
    if (refs == 0) continue;
    if (refs == 1 && prefix_cache_ && prefix_cache_->holds(b)) continue;
    return false;
  }
  return host_.num_free() + static_cast<int>(deferred_host_frees_.size()) == host_.num_blocks();
}

}  // namespace strata
