#include "cache/prefix_cache.h"

#include <queue>
#include <tuple>

#include "core/error.h"

namespace strata {

PrefixCache::PrefixCache(BlockAllocator& allocator, int block_size)
    : allocator_(allocator), block_size_(block_size) {
  if (block_size <= 0) throw InvalidArgument("block_size", "block size must be positive");
}

PrefixCache::~PrefixCache() { clear(); }

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
    node->last_used = clock_;
    allocator_.add_ref(node->block);
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
      if (node_of_block_.count(block)) return;  // recorded elsewhere: its data differs from here
      auto child = std::make_unique<Node>();
      child->block = block;
      child->parent = node;
      allocator_.add_ref(block);
      it = node->children.emplace(std::move(key), std::move(child)).first;
      it->second->key = &it->first;
      node_of_block_[block] = it->second.get();
      ++num_nodes_;
    }
    node = it->second.get();
    node->last_used = clock_;
  }
}

bool PrefixCache::evictable_subtree(const Node& node, int& count) const {
  bool all = true;
  for (const auto& [key, child] : node.children) all = evictable_subtree(*child, count) && all;
  if (&node == &root_) return false;
  if (all && allocator_.ref_count(node.block) == 1) {
    ++count;
    return true;
  }
  return false;
}

int PrefixCache::num_evictable() const {
  int count = 0;
  evictable_subtree(root_, count);
  return count;
}

void PrefixCache::remove_leaf(Node* leaf) {
  Node* parent = leaf->parent;
  node_of_block_.erase(leaf->block);
  allocator_.release(leaf->block);
  --num_nodes_;
  parent->children.erase(*leaf->key);  // destroys leaf
}

int PrefixCache::evict(int n) {
  using Entry = std::tuple<uint64_t, int32_t, Node*>;  // (last used, block, node): oldest first
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> leaves;
  auto consider = [&](Node* node) {
    if (node != &root_ && node->children.empty() && allocator_.ref_count(node->block) == 1)
      leaves.emplace(node->last_used, node->block, node);
  };
  for (auto& [block, node] : node_of_block_) consider(node);
  int freed = 0;
  while (freed < n && !leaves.empty()) {
    Node* leaf = std::get<2>(leaves.top());
    leaves.pop();
    Node* parent = leaf->parent;
    remove_leaf(leaf);
    ++freed;
    ++stats_.evictions;
    consider(parent);
  }
  return freed;
}

bool PrefixCache::holds(int32_t block) const { return node_of_block_.count(block) > 0; }

void PrefixCache::release_subtree(Node& node) {
  for (auto& [key, child] : node.children) {
    release_subtree(*child);
    allocator_.release(child->block);
  }
  node.children.clear();
}

void PrefixCache::clear() {
  release_subtree(root_);
  node_of_block_.clear();
  num_nodes_ = 0;
}

}  // namespace strata
