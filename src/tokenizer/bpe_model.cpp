#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <mutex>
#include <queue>

#include "tokenizer/utf8.h"

namespace strata {

namespace {

std::string byte_token_text(int b) {
  char text[8];
  std::snprintf(text, sizeof(text), "<0x%02X>", b);
  return text;
}

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
};

struct Candidate {
  int32_t rank;
  int32_t left;  // index of the left symbol; symbols keep their text order
  int32_t left_id, right_id, result;
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
};

}  // namespace

BpeModel::BpeModel(std::shared_ptr<const Vocabulary> vocab, BpeOptions options)
    : vocab_(std::move(vocab)), options_(std::move(options)), byte_tokens_(256, -1), small_char_ids_(0x180, -1) {
  for (char32_t cp = 0; cp < small_char_ids_.size(); ++cp)
    if (auto id = vocab_->find(utf8::encode(cp))) small_char_ids_[cp] = *id;
  if (options_.byte_fallback)
    for (int b = 0; b < 256; ++b)
      if (auto id = vocab_->find(byte_token_text(b))) byte_tokens_[b] = *id;
}

void BpeModel::set_merges(const std::vector<std::pair<std::string, std::string>>& merges) {
  merges_.clear();
  merges_.reserve(merges.size());
  const std::string& prefix = options_.continuing_subword_prefix;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto left = vocab_->find(a), right = vocab_->find(b);
    // The merged token drops the prefix of the right part.
    std::string joined = a + (prefix.empty() || b.rfind(prefix, 0) != 0 ? b : b.substr(prefix.size()));
    auto result = vocab_->find(joined);
    if (!left || !right || !result) continue;  // unusable merges are ignored, as in HF
    merges_.try_emplace(pair_key(*left, *right), Merge{static_cast<int32_t>(rank), *result});
  }
}

void BpeModel::set_merges_from_scores(const std::vector<float>& scores, const std::vector<bool>& mergeable) {
  merges_.clear();
  // Rank = position in descending score order; equal scores share a rank so that the
  // leftmost pair wins, as in SentencePiece.
  std::vector<int32_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return scores[a] > scores[b]; });
  std::vector<int32_t> rank_of(scores.size(), 0);
  for (size_t i = 0, rank = 0; i < order.size(); ++i) {
    if (i > 0 && scores[order[i]] != scores[order[i - 1]]) rank = i;
    rank_of[order[i]] = static_cast<int32_t>(rank);
  }
  for (int32_t id = 0; id < vocab_->size() && static_cast<size_t>(id) < scores.size(); ++id) {
    if (!mergeable[id]) continue;
    const std::string& text = vocab_->text(id);
    for (size_t cut = 1; cut < text.size(); ++cut) {
      if ((static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) continue;
      auto left = vocab_->find(std::string_view(text).substr(0, cut));
      auto right = vocab_->find(std::string_view(text).substr(cut));
      if (!left || !right) continue;
      auto [it, inserted] = merges_.try_emplace(pair_key(*left, *right), Merge{rank_of[id], id});
      if (!inserted && rank_of[id] < it->second.rank) it->second = Merge{rank_of[id], id};
    }
  }
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& ids) const {
  const auto chars = utf8::split_chars(word);
  bool last_was_unk = false;
  std::string piece;
  for (size_t i = 0; i < chars.size(); ++i) {
    const bool plain = (i == 0 || options_.continuing_subword_prefix.empty()) &&
                       (i + 1 < chars.size() || options_.end_of_word_suffix.empty());
    if (plain && chars[i].size() <= 2) {
      size_t pos = 0;
      const char32_t cp = utf8::next_codepoint(chars[i], pos);
      if (cp < small_char_ids_.size() && small_char_ids_[cp] >= 0) {
        ids.push_back(small_char_ids_[cp]);
        last_was_unk = false;
        continue;
      }
    }
    piece.clear();
    if (i > 0) piece += options_.continuing_subword_prefix;
    piece += chars[i];
    if (i + 1 == chars.size()) piece += options_.end_of_word_suffix;
    if (auto id = vocab_->find(piece)) {
      ids.push_back(*id);
      last_was_unk = false;
      continue;
    }
    if (options_.byte_fallback) {
      const auto bytes = chars[i];
      const bool all_known = std::all_of(bytes.begin(), bytes.end(), [&](char c) {
        return byte_tokens_[static_cast<unsigned char>(c)] >= 0;
      });
      if (all_known) {
        for (char c : bytes) ids.push_back(byte_tokens_[static_cast<unsigned char>(c)]);
        last_was_unk = false;
        continue;
      }
    }
    if (options_.unk) {
      if (!(options_.fuse_unk && last_was_unk)) ids.push_back(*options_.unk);
      last_was_unk = true;
    }
  }
}

void BpeModel::apply_merges(std::vector<int32_t>& ids) const {
  if (ids.size() < 2 || merges_.empty()) return;
  const auto n = static_cast<int32_t>(ids.size());
  std::vector<Symbol> symbols(n);
  for (int32_t i = 0; i < n; ++i) symbols[i] = Symbol{ids[i], i - 1, i + 1 < n ? i + 1 : -1};

  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    auto it = merges_.find(pair_key(symbols[left].id, symbols[right].id));
    if (it == merges_.end()) return;
    queue.push(Candidate{it->second.rank, left, symbols[left].id, symbols[right].id, it->second.result});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    // Stale candidates: the left symbol was merged away or either side changed.
    if (left.id != c.left_id || left.next < 0 || symbols[left.next].id != c.right_id) continue;
    const int32_t right = left.next;
    left.id = c.result;
    left.next = symbols[right].next;
    if (left.next >= 0) symbols[left.next].prev = c.left;
    symbols[right].id = -1;
    consider(left.prev);
    consider(c.left);
  }
  ids.clear();
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = vocab_->find(word)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::shared_lock lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  ids.reserve(word.size());
  initial_symbols(word, ids);
  apply_merges(ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::unique_lock lock(cache_mutex_);
    if (cache_.size() >= kMaxCachedWords) cache_.clear();  // crude bound: start over
    cache_.try_emplace(std::string(word), std::move(ids));
  }
}

}  // namespace strata
