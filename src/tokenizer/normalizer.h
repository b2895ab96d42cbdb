#pragma once
// Normalizers: text -> text steps applied before pre-tokenization (the `normalizer` of a
// Hugging Face tokenizer.json, or what a GGUF tokenizer model implies).
#include <memory>
#include <string>
#include <vector>

namespace strata {

class Regex;

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

using NormalizerPtr = std::unique_ptr<Normalizer>;

NormalizerPtr make_sequence_normalizer(std::vector<NormalizerPtr> steps);
NormalizerPtr make_prepend_normalizer(std::string prefix);  // only for non-empty text
// Replaces every occurrence of a literal string, or of a regex when `is_regex`.
NormalizerPtr make_replace_normalizer(const std::string& pattern, bool is_regex, std::string content);
NormalizerPtr make_nfc_normalizer();
NormalizerPtr make_nfd_normalizer();
NormalizerPtr make_lowercase_normalizer();
NormalizerPtr make_strip_accents_normalizer();  // drops nonspacing marks (Mn)
NormalizerPtr make_strip_normalizer(bool left, bool right);
struct BertNormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool strip_accents = true;  // HF default: follows `lowercase` when null
  bool lowercase = true;
};
NormalizerPtr make_bert_normalizer(BertNormalizerOptions options);

// Shared with the BERT pre-tokenizer and WordPiece.
bool is_bert_punctuation(char32_t cp);
bool is_cjk_ideograph(char32_t cp);

}  // namespace strata
