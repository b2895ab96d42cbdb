#pragma once
// The prefix cache (policy over the block allocator): a radix tree keyed by token ids at
// block granularity, shared by all requests. Each node is one full block: its key is the
// block's token ids plus a salt for anything else that changes the cached values (LoRA
// adapter, image hashes later). The cache holds its own reference on every block it
// records; blocks no sequence uses any more stay cached until space is needed, then the
// least recently used leaves are evicted.
//
// What may be evicted is kept up to date as references change (the allocator tells the
// cache, BlockRefObserver), not found by walking the tree: a node is blocked when a
// sequence holds its block or any block below it, the evictable leaves are kept ordered
// by last use, and a change propagates up only as far as it changes an ancestor's state.
// A full cache of a long-running server evicts on every new block, and a walk of its
// tens of thousands of nodes per eviction cost milliseconds a step.
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "cache/block_allocator.h"

namespace strata {

struct PrefixMatch {
  std::vector<int32_t> blocks;  // one reference taken for the caller on each
  int num_cached_tokens = 0;
};

struct PrefixCacheStats {
  int64_t hit_tokens = 0;      // prompt tokens served from the cache
  int64_t queried_tokens = 0;  // prompt tokens looked up
  int64_t hits = 0;            // lookups that matched at least one block
  int64_t misses = 0;          // lookups that matched none
  int64_t evictions = 0;       // blocks evicted
};

class PrefixCache final : private BlockRefObserver {
 public:
  PrefixCache(BlockAllocator& allocator, int block_size);
  ~PrefixCache();
  PrefixCache(const PrefixCache&) = delete;
  PrefixCache& operator=(const PrefixCache&) = delete;

  // The longest cached run of whole blocks at the start of `tokens`, at most `max_blocks`
  // blocks. Takes a reference on each matched block for the caller. Does not count
  // statistics (a caller may look up and then not admit); see record_lookup.
  PrefixMatch match(std::span<const int32_t> tokens, int max_blocks, uint64_t salt = 0);
  void record_lookup(int hit_tokens, int queried_tokens);

  // Records that blocks[i] holds tokens [i*B, (i+1)*B) for every whole block of `tokens`
  // (at most blocks.size()). Blocks already recorded for the same prefix are kept; the
  // caller's duplicates are not added.
  void insert(std::span<const int32_t> tokens, std::span<const int32_t> blocks, uint64_t salt = 0);

  // Frees up to `n` blocks held by the cache alone, least recently used leaves first.
  // Returns how many were freed.
  int evict(int n);
  // Blocks that evictions could free now (held by the cache alone, with every
  // descendant also held by the cache alone).
  int num_evictable() const;
  int num_cached_blocks() const { return num_nodes_; }
  // Cached blocks no sequence holds (the cache's reference is their only one).
  int num_held_by_cache_alone() const { return num_cache_only_; }
  bool holds(int32_t block) const;
  // Releases every block the cache holds (e.g. at shutdown).
  void clear();
  // Recounts what is evictable by walking the tree (the definition above) and throws Error
  // if the kept state differs: for tests.
  void check_consistency() const;

  PrefixCacheStats stats() const { return stats_; }

 private:
  struct Key {
    uint64_t salt = 0;
    std::vector<int32_t> tokens;
    auto operator<=>(const Key&) const = default;
  };
  struct Node {
    int32_t block = -1;
    Node* parent = nullptr;
    const Key* key = nullptr;  // this node's key in parent->children
    uint64_t last_used = 0;
    std::map<Key, std::unique_ptr<Node>> children;
    bool blocked = false;      // held by a sequence, itself or below (not evictable)
    int blocked_children = 0;  // children that are blocked
    bool in_lru = false;       // in evictable_leaves_
  };

  Key block_key(std::span<const int32_t> tokens, int index, uint64_t salt) const;
  void ref_count_changed(int32_t block, int before, int after) override;
  // Re-derives `node`'s blocked state from its block's references and its children, and
  // carries a change up through the ancestors it changes.
  void refresh(Node* node);
  // Puts `node` in evictable_leaves_ or takes it out, as it is an unblocked leaf or not.
  void update_lru(Node* node);
  void touch(Node* node);  // last used now (re-keys it in evictable_leaves_)
  bool walk_blocked(const Node& node, int& unblocked, int& lru_nodes, int& cache_only) const;  // check_consistency
  void remove_leaf(Node* leaf);
  void release_subtree(Node& node);

  BlockAllocator& allocator_;
  int block_size_;
  Node root_;
  int num_nodes_ = 0;
  uint64_t clock_ = 0;
  std::vector<Node*> node_of_block_;  // by block id; null where the cache holds none
  int num_unblocked_ = 0;             // nodes not blocked: what evictions could free
  int num_cache_only_ = 0;            // nodes whose block has only the cache's reference
  std::set<std::pair<uint64_t, int32_t>> evictable_leaves_;  // (last used, block), oldest first
  PrefixCacheStats stats_;
};

}  // namespace strata
