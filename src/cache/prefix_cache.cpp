#include "cache/prefix_cache.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace strata {

PrefixCache::PrefixCache(BlockAllocator& allocator, int block_size)
    : allocator_(allocator), block_size_(block_size),
      node_of_block_(static_cast<size_t>(allocator.num_blocks()), nullptr) {
  if (block_size <= 0) throw InvalidArgument("block_size", "block size must be positive");
  allocator_.set_observer(this);
}

PrefixCache::~PrefixCache() {
  clear();
  allocator_.set_observer(nullptr);
}

PrefixCache::Key PrefixCache::block_key(std::span<const int32_t> tokens, int index,
                                        uint64_t salt) const {
  const auto first = tokens.begin() + static_cast<std::ptrdiff_t>(index) * block_size_;
  return Key{salt, std::vector<int32_t>(first, first + block_size_)};
}

PrefixMatch PrefixCache::match(std::span<const int32_t> tokens, int max_blocks, uint64_t salt) {
  PrefixMatch result;
  const int whole = static_cast<int>(tokens.size()) / block_size_;
  const int limit = std::min(whole, max_blocks);
  Node* node = &root_;
  ++clock_;
  for (int i = 0; i < limit; ++i) {
    auto it = node->children.find(block_key(tokens, i, salt));
    if (it == node->children.end()) break;
    node = it->second.get();
    touch(node);
    allocator_.add_ref(node->block);  // blocks it (ref_count_changed)
    result.blocks.push_back(node->block);
  }
  result.num_cached_tokens = static_cast<int>(result.blocks.size()) * block_size_;
  return result;
}

void PrefixCache::record_lookup(int hit_tokens, int queried_tokens) {
  stats_.hit_tokens += hit_tokens;
  stats_.queried_tokens += queried_tokens;
  ++(hit_tokens > 0 ? stats_.hits : stats_.misses);
}

void PrefixCache::insert(std::span<const int32_t> tokens, std::span<const int32_t> blocks,
                         uint64_t salt) {
  const int whole = std::min(static_cast<int>(tokens.size()) / block_size_,
                             static_cast<int>(blocks.size()));
  Node* node = &root_;
  ++clock_;
  for (int i = 0; i < whole; ++i) {
    Key key = block_key(tokens, i, salt);
    auto it = node->children.find(key);
    if (it == node->children.end()) {
      const int32_t block = blocks[static_cast<size_t>(i)];
      if (holds(block)) return;  // recorded elsewhere: its data differs from here
      auto child = std::make_unique<Node>();
      child->block = block;
      child->parent = node;
      child->last_used = clock_;
      it = node->children.emplace(std::move(key), std::move(child)).first;
      Node* added = it->second.get();
      added->key = &it->first;
      allocator_.add_ref(block);  // before the node is known: the observer ignores it
      node_of_block_[static_cast<size_t>(block)] = added;
      ++num_nodes_;
      ++num_unblocked_;  // a new node starts unblocked; refresh() below sets it right
      if (allocator_.ref_count(block) == 1) ++num_cache_only_;
      if (node != &root_) update_lru(node);  // no longer a leaf
      refresh(added);
      node = added;
      continue;
    }
    node = it->second.get();
    touch(node);
  }
}

void PrefixCache::ref_count_changed(int32_t block, int before, int after) {
  if (block < 0 || static_cast<size_t>(block) >= node_of_block_.size()) return;
  Node* node = node_of_block_[static_cast<size_t>(block)];
  // The cache's own reference is one: a second one is a sequence's.
  if (!node || (before > 1) == (after > 1)) return;
  num_cache_only_ += after == 1 ? 1 : before == 1 ? -1 : 0;
  refresh(node);
}

void PrefixCache::refresh(Node* node) {
  while (node != &root_) {
    const bool blocked = allocator_.ref_count(node->block) > 1 || node->blocked_children > 0;
    const bool changed = blocked != node->blocked;
    node->blocked = blocked;
    update_lru(node);
    if (!changed) return;
    num_unblocked_ += blocked ? -1 : 1;
    node = node->parent;
    if (node != &root_) node->blocked_children += blocked ? 1 : -1;
  }
}

void PrefixCache::update_lru(Node* node) {
  const bool want = !node->blocked && node->children.empty();
  if (want == node->in_lru) return;
  if (want) evictable_leaves_.emplace(node->last_used, node->block);
  else evictable_leaves_.erase({node->last_used, node->block});
  node->in_lru = want;
}

void PrefixCache::touch(Node* node) {
  if (node->in_lru) evictable_leaves_.erase({node->last_used, node->block});
  node->last_used = clock_;
  if (node->in_lru) evictable_leaves_.emplace(node->last_used, node->block);
}

int PrefixCache::num_evictable() const { return num_unblocked_; }

void PrefixCache::remove_leaf(Node* leaf) {
  Node* parent = leaf->parent;
  const int32_t block = leaf->block;
  evictable_leaves_.erase({leaf->last_used, block});
  node_of_block_[static_cast<size_t>(block)] = nullptr;
  --num_unblocked_;
  --num_cache_only_;  // an evictable leaf: the cache held it alone
  --num_nodes_;
  parent->children.erase(*leaf->key);  // destroys leaf
  allocator_.release(block);
  if (parent != &root_) update_lru(parent);  // perhaps an evictable leaf now
}

int PrefixCache::evict(int n) {
  int freed = 0;
  while (freed < n && !evictable_leaves_.empty()) {
    remove_leaf(node_of_block_[static_cast<size_t>(evictable_leaves_.begin()->second)]);
    ++freed;
    ++stats_.evictions;
  }
  return freed;
}

bool PrefixCache::holds(int32_t block) const {
  return block >= 0 && static_cast<size_t>(block) < node_of_block_.size() &&
         node_of_block_[static_cast<size_t>(block)] != nullptr;
}

void PrefixCache::release_subtree(Node& node) {
  for (auto& [key, child] : node.children) {
    release_subtree(*child);
    allocator_.release(child->block);
  }
  node.children.clear();
}

void PrefixCache::clear() {
  // Forget the nodes first, so that the releases below are not followed.
  std::fill(node_of_block_.begin(), node_of_block_.end(), nullptr);
  release_subtree(root_);
  evictable_leaves_.clear();
  num_nodes_ = 0;
  num_unblocked_ = 0;
  num_cache_only_ = 0;
}

bool PrefixCache::walk_blocked(const Node& node, int& unblocked, int& lru_nodes, int& cache_only) const {
  int blocked_children = 0;
  for (const auto& [key, child] : node.children)
    blocked_children += walk_blocked(*child, unblocked, lru_nodes, cache_only);
  if (&node == &root_) return true;
  const auto fail = [&](const std::string& what) {
    throw Error("prefix cache: block " + std::to_string(node.block) + ": " + what);
  };
  const bool blocked = allocator_.ref_count(node.block) > 1 || blocked_children > 0;
  if (blocked != node.blocked) fail(std::string("kept as ") + (node.blocked ? "blocked" : "evictable"));
  if (blocked_children != node.blocked_children) fail("wrong count of blocked children");
  const bool leaf = !blocked && node.children.empty();
  if (leaf != node.in_lru || leaf != (evictable_leaves_.count({node.last_used, node.block}) == 1))
    fail("evictable-leaf set out of date");
  if (node_of_block_[static_cast<size_t>(node.block)] != &node) fail("not found by its block id");
  unblocked += !blocked;
  lru_nodes += leaf;
  cache_only += allocator_.ref_count(node.block) == 1;
  return blocked;
}

void PrefixCache::check_consistency() const {
  int unblocked = 0, lru_nodes = 0, cache_only = 0;
  walk_blocked(root_, unblocked, lru_nodes, cache_only);
  if (unblocked != num_unblocked_)
    throw Error("prefix cache: " + std::to_string(num_unblocked_) + " evictable blocks kept, " +
                std::to_string(unblocked) + " in the tree");
  if (cache_only != num_cache_only_)
    throw Error("prefix cache: " + std::to_string(num_cache_only_) + " blocks kept as held by the cache alone, " +
                std::to_string(cache_only) + " in the tree");
  if (lru_nodes != static_cast<int>(evictable_leaves_.size()))
    throw Error("prefix cache: the evictable-leaf set has blocks the tree does not");
}

}  // namespace strata
