#include "tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "tokenizer/normalizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode_data.h"
#include "tokenizer/utf8.h"

namespace strata {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

using Ranges = std::vector<std::pair<size_t, size_t>>;

// Applies a Hugging Face split behavior given the matched byte ranges of one word.
void split_word(const std::string& word, const Ranges& matches, SplitBehavior behavior, bool invert,
                std::vector<std::string>& out) {
  struct Part { size_t begin, end; bool is_match; };
  std::vector<Part> parts;
  size_t last = 0;
  for (auto [b, e] : matches) {
    if (b > last) parts.push_back({last, b, invert});
    parts.push_back({b, e, !invert});
    last = e;
  }
  if (last < word.size()) parts.push_back({last, word.size(), invert});

  std::vector<Part> merged;
  switch (behavior) {
    case SplitBehavior::Isolated: merged = parts; break;
    case SplitBehavior::Removed:
      for (const auto& p : parts) if (!p.is_match) merged.push_back(p);
      break;
    case SplitBehavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const auto& p : parts) {
        if (p.is_match && !previous_match && !merged.empty()) merged.back().end = p.end;
        else merged.push_back(p);
        previous_match = p.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous_match = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !previous_match && !merged.empty()) merged.back().begin = it->begin;
        else merged.push_back(*it);
        previous_match = it->is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    }
    case SplitBehavior::Contiguous: {
      bool previous_match = false;
      for (const auto& p : parts) {
        if (p.is_match == previous_match && !merged.empty()) merged.back().end = p.end;
        else merged.push_back(p);
        previous_match = p.is_match;
      }
      break;
    }
  }
  for (const auto& p : merged)
    if (p.end > p.begin) out.push_back(word.substr(p.begin, p.end - p.begin));
}

// A split whose matches are found by a function of the word.
class SplitPreTokenizer : public PreTokenizer {
 public:
  using Finder = std::function<Ranges(const std::string&)>;
  SplitPreTokenizer(Finder finder, SplitBehavior behavior, bool invert)
      : finder_(std::move(finder)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<std::string>& words, bool) const override {
    std::vector<std::string> out;
    out.reserve(words.size());
    for (const auto& w : words) split_word(w, finder_(w), behavior_, invert_, out);
    words = std::move(out);
  }

 private:
  Finder finder_;
  SplitBehavior behavior_;
  bool invert_;
};

// Matches: maximal runs of characters satisfying `pred`, or each such character alone.
template <typename Pred>
Ranges char_class_ranges(const std::string& word, Pred pred, bool each_alone) {
  Ranges ranges;
  for (size_t pos = 0; pos < word.size();) {
    const size_t start = pos;
    const char32_t cp = utf8::next_codepoint(word, pos);
    if (!pred(cp)) continue;
    if (!each_alone && !ranges.empty() && ranges.back().second == start) ranges.back().second = pos;
    else ranges.emplace_back(start, pos);
  }
  return ranges;
}

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<PreTokenizerPtr> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<std::string>& words, bool at_text_start) const override {
    for (const auto& s : steps_) s->pre_tokenize(words, at_text_start);
  }

 private:
  std::vector<PreTokenizerPtr> steps_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), regex_(use_regex ? std::make_unique<Regex>(kGpt2Pattern) : nullptr) {}
  void pre_tokenize(std::vector<std::string>& words, bool) const override {
    std::vector<std::string> split;
    for (auto& w : words) {
      if (add_prefix_space_ && (w.empty() || w[0] != ' ')) w.insert(0, " ");
      if (regex_) split_word(w, regex_->find_all(w), SplitBehavior::Isolated, false, split);
      else split.push_back(std::move(w));
    }
    const auto& table = utf8::byte_to_char_table();
    for (auto& w : split) {
      std::string mapped;
      mapped.reserve(w.size() * 2);
      for (unsigned char c : w) mapped += table[c];
      w = std::move(mapped);
    }
    words = std::move(split);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<std::string>& words, bool at_text_start) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < words.size(); ++i) {
      std::string w;
      for (char c : words[i]) {
        if (c == ' ') w += replacement_;
        else w += c;
      }
      const bool prepend = scheme_ == PrependScheme::Always ||
                           (scheme_ == PrependScheme::First && i == 0 && at_text_start);
      if (prepend && w.rfind(replacement_, 0) != 0) w.insert(0, replacement_);
      if (!split_) {
        out.push_back(std::move(w));
        continue;
      }
      // Split before each replacement character (it starts the next word).
      size_t start = 0;
      for (size_t pos = w.find(replacement_, 1); pos != std::string::npos; pos = w.find(replacement_, pos + 1)) {
        if (pos > start) out.push_back(w.substr(start, pos - start));
        start = pos;
      }
      if (start < w.size()) out.push_back(w.substr(start));
    }
    words = std::move(out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

bool is_numeric(char32_t cp) {
  const auto c = unicode::category(cp);
  return c == unicode::Category::Nd || c == unicode::Category::Nl || c == unicode::Category::No;
}

bool is_whitespace_char(char32_t cp) { return unicode::is_white_space(cp); }

}  // namespace

PreTokenizerPtr make_sequence_pre_tokenizer(std::vector<PreTokenizerPtr> steps) {
  return std::make_unique<SequencePreTokenizer>(std::move(steps));
}

PreTokenizerPtr make_regex_split(const std::string& regex, SplitBehavior behavior, bool invert) {
  auto compiled = std::make_shared<Regex>(regex);
  return std::make_unique<SplitPreTokenizer>([compiled](const std::string& w) { return compiled->find_all(w); },
                                             behavior, invert);
}

PreTokenizerPtr make_literal_split(const std::string& literal, SplitBehavior behavior, bool invert) {
  return std::make_unique<SplitPreTokenizer>(
      [literal](const std::string& w) {
        Ranges r;
        if (literal.empty()) return r;
        for (size_t p = w.find(literal); p != std::string::npos; p = w.find(literal, p + literal.size()))
          r.emplace_back(p, p + literal.size());
        return r;
      },
      behavior, invert);
}

PreTokenizerPtr make_byte_level(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}

PreTokenizerPtr make_digits(bool individual_digits) {
  return std::make_unique<SplitPreTokenizer>(
      [individual_digits](const std::string& w) { return char_class_ranges(w, is_numeric, individual_digits); },
      SplitBehavior::Isolated, false);
}

PreTokenizerPtr make_punctuation(SplitBehavior behavior) {
  return std::make_unique<SplitPreTokenizer>(
      [](const std::string& w) { return char_class_ranges(w, is_bert_punctuation, true); }, behavior, false);
}

PreTokenizerPtr make_whitespace() { return make_regex_split(R"(\w+|[^\w\s]+)", SplitBehavior::Removed, true); }

PreTokenizerPtr make_whitespace_split() {
  return std::make_unique<SplitPreTokenizer>(
      [](const std::string& w) { return char_class_ranges(w, is_whitespace_char, false); }, SplitBehavior::Removed,
      false);
}

PreTokenizerPtr make_bert_pre_tokenizer() {
  std::vector<PreTokenizerPtr> steps;
  steps.push_back(make_whitespace_split());
  steps.push_back(make_punctuation(SplitBehavior::Isolated));
  return make_sequence_pre_tokenizer(std::move(steps));
}

PreTokenizerPtr make_metaspace(std::string replacement, PrependScheme scheme, bool split) {
  return std::make_unique<MetaspacePreTokenizer>(std::move(replacement), scheme, split);
}

}  // namespace strata
