#include "tokenizer/normalizer.h"

#include "tokenizer/regex.h"
#include "tokenizer/unicode_data.h"
#include "tokenizer/utf8.h"

namespace strata {

namespace {

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<NormalizerPtr> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<NormalizerPtr> steps_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(const std::string& pattern, bool is_regex, std::string content)
      : literal_(pattern), content_(std::move(content)) {
    if (is_regex) regex_ = std::make_unique<Regex>(pattern);
  }
  void normalize(std::string& text) const override {
    std::string out;
    size_t last = 0;
    for (auto [begin, end] : matches(text)) {
      out.append(text, last, begin - last);
      out += content_;
      last = end;
    }
    if (last == 0 && out.empty()) return;
    out.append(text, last, std::string::npos);
    text = std::move(out);
  }

 private:
  std::vector<std::pair<size_t, size_t>> matches(const std::string& text) const {
    if (regex_) return regex_->find_all(text);
    std::vector<std::pair<size_t, size_t>> found;
    if (literal_.empty()) return found;
    for (size_t pos = text.find(literal_); pos != std::string::npos; pos = text.find(literal_, pos + literal_.size()))
      found.emplace_back(pos, pos + literal_.size());
    return found;
  }

  std::string literal_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

template <typename F>
class FunctionNormalizer : public Normalizer {
 public:
  explicit FunctionNormalizer(F f) : f_(std::move(f)) {}
  void normalize(std::string& text) const override { text = f_(text); }

 private:
  F f_;
};

template <typename F>
NormalizerPtr make_function_normalizer(F f) {
  return std::make_unique<FunctionNormalizer<F>>(std::move(f));
}

std::string strip_marks(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const char32_t cp = utf8::next_codepoint(text, pos);
    if (unicode::category(cp) != unicode::Category::Mn) utf8::append(out, cp);
  }
  return out;
}

bool is_bert_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  const auto c = unicode::category(cp);
  return c == unicode::Category::Cc || c == unicode::Category::Cf || c == unicode::Category::Cn ||
         c == unicode::Category::Co;
}

std::string bert_clean(const std::string& text, const BertNormalizerOptions& o) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const char32_t cp = utf8::next_codepoint(text, pos);
    if (o.clean_text) {
      if (cp == 0 || cp == 0xFFFD || is_bert_control(cp)) continue;
      if (unicode::is_white_space(cp) || cp == '\t' || cp == '\n' || cp == '\r') {
        out += ' ';
        continue;
      }
    }
    if (o.handle_chinese_chars && is_cjk_ideograph(cp)) {
      out += ' ';
      utf8::append(out, cp);
      out += ' ';
      continue;
    }
    utf8::append(out, cp);
  }
  return out;
}

}  // namespace

bool is_bert_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  return unicode::is_punctuation(cp);
}

bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

NormalizerPtr make_sequence_normalizer(std::vector<NormalizerPtr> steps) {
  return std::make_unique<SequenceNormalizer>(std::move(steps));
}
NormalizerPtr make_prepend_normalizer(std::string prefix) {
  return std::make_unique<PrependNormalizer>(std::move(prefix));
}
NormalizerPtr make_replace_normalizer(const std::string& pattern, bool is_regex, std::string content) {
  return std::make_unique<ReplaceNormalizer>(pattern, is_regex, std::move(content));
}
NormalizerPtr make_nfc_normalizer() {
  return make_function_normalizer([](const std::string& t) { return unicode::nfc(t); });
}
NormalizerPtr make_nfd_normalizer() {
  return make_function_normalizer([](const std::string& t) { return unicode::nfd(t); });
}
NormalizerPtr make_lowercase_normalizer() {
  return make_function_normalizer([](const std::string& t) { return unicode::lowercase(t); });
}
NormalizerPtr make_strip_accents_normalizer() { return make_function_normalizer(strip_marks); }

NormalizerPtr make_strip_normalizer(bool left, bool right) {
  return make_function_normalizer([left, right](const std::string& t) {
    auto cps = utf8::to_codepoints(t);
    size_t begin = 0, end = cps.size();
    while (left && begin < end && unicode::is_white_space(cps[begin])) ++begin;
    while (right && end > begin && unicode::is_white_space(cps[end - 1])) --end;
    return utf8::from_codepoints(std::vector<char32_t>(cps.begin() + begin, cps.begin() + end));
  });
}

NormalizerPtr make_bert_normalizer(BertNormalizerOptions options) {
  return make_function_normalizer([options](const std::string& t) {
    std::string out = bert_clean(t, options);
    if (options.strip_accents) out = strip_marks(unicode::nfd(out));
    if (options.lowercase) out = unicode::lowercase(out);
    return out;
  });
}

}  // namespace strata
