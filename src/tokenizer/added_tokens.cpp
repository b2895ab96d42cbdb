#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/unicode_data.h"
#include "tokenizer/utf8.h"

namespace strata {

namespace {

// Length of the whitespace run ending at `end` (lstrip) or starting at `begin` (rstrip).
size_t whitespace_before(std::string_view text, size_t end, size_t floor) {
  size_t begin = end;
  while (begin > floor) {
    size_t start = begin - 1;
    while (start > floor && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    size_t pos = start;
    if (!unicode::is_white_space(utf8::next_codepoint(text, pos))) break;
    begin = start;
  }
  return end - begin;
}

size_t whitespace_after(std::string_view text, size_t begin) {
  size_t pos = begin;
  while (pos < text.size()) {
    size_t next = pos;
    if (!unicode::is_white_space(utf8::next_codepoint(text, next))) break;
    pos = next;
  }
  return pos - begin;
}

bool is_word_char(std::string_view text, size_t pos, bool before) {
  if (before) {
    if (pos == 0) return false;
    size_t start = pos - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    pos = start;
  } else if (pos >= text.size()) {
    return false;
  }
  const char32_t cp = utf8::next_codepoint(text, pos);
  const auto c = unicode::category(cp);
  return cp == '_' || (c >= unicode::Category::Lu && c <= unicode::Category::Lo) ||
         (c >= unicode::Category::Nd && c <= unicode::Category::No) || unicode::is_mark(cp);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  nodes_.emplace_back();
  for (size_t i = 0; i < tokens_.size(); ++i)
    if (!tokens_[i].content.empty()) insert(tokens_[i].content, static_cast<int32_t>(i));
}

int32_t AddedTokenMatcher::child(int32_t node, unsigned char byte) const {
  const auto& ch = nodes_[node].children;
  auto it = std::lower_bound(ch.begin(), ch.end(), byte, [](const auto& e, unsigned char b) { return e.first < b; });
  return (it != ch.end() && it->first == byte) ? it->second : -1;
}

void AddedTokenMatcher::insert(const std::string& content, int32_t token_index) {
  int32_t node = 0;
  for (unsigned char byte : content) {
    int32_t next = child(node, byte);
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      auto& ch = nodes_[node].children;
      auto it = std::lower_bound(ch.begin(), ch.end(), byte, [](const auto& e, unsigned char b) { return e.first < b; });
      ch.insert(it, {byte, next});
      nodes_.emplace_back();
    }
    node = next;
  }
  if (nodes_[node].token < 0) nodes_[node].token = token_index;  // first definition wins
}

int32_t AddedTokenMatcher::longest_match(std::string_view text, size_t pos, bool parse_special,
                                         size_t& length) const {
  int32_t best = -1;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    node = child(node, static_cast<unsigned char>(text[i]));
    if (node < 0) break;
    const int32_t t = nodes_[node].token;
    if (t < 0) continue;
    const AddedToken& tok = tokens_[t];
    if (tok.special && !parse_special) continue;
    if (tok.single_word && (is_word_char(text, pos, true) || is_word_char(text, i + 1, false))) continue;
    best = t;
    length = i + 1 - pos;
  }
  return best;
}

std::vector<TextSegment> AddedTokenMatcher::split(std::string_view text, bool parse_special) const {
  std::vector<TextSegment> segments;
  if (tokens_.empty()) {
    if (!text.empty()) segments.push_back({text, -1});
    return segments;
  }
  size_t plain_start = 0;  // start of the pending plain text
  for (size_t pos = 0; pos < text.size();) {
    size_t length = 0;
    const int32_t t = child(0, static_cast<unsigned char>(text[pos])) < 0 ? -1
                                                                           : longest_match(text, pos, parse_special, length);
    if (t < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = tokens_[t];
    size_t begin = pos, end = pos + length;
    if (tok.lstrip) begin -= whitespace_before(text, begin, plain_start);
    if (tok.rstrip) end += whitespace_after(text, end);
    if (begin > plain_start) segments.push_back({text.substr(plain_start, begin - plain_start), -1});
    segments.push_back({{}, tok.id});
    pos = plain_start = end;
  }
  if (plain_start < text.size()) segments.push_back({text.substr(plain_start), -1});
  return segments;
}

}  // namespace strata
