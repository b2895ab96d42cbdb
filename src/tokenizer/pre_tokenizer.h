#pragma once
// Pre-tokenizers: split normalized text into words that the model tokenizes one by one
// (the `pre_tokenizer` of a Hugging Face tokenizer.json, or the regexes llama.cpp uses
// for a GGUF `tokenizer.ggml.pre`).
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace strata {

enum class SplitBehavior { Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous };

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Refines `words` in place. `at_text_start`: the first word begins the input text
  // (not after an added token), which Metaspace's "first" scheme needs.
  virtual void pre_tokenize(std::vector<std::string>& words, bool at_text_start) const = 0;
};

using PreTokenizerPtr = std::unique_ptr<PreTokenizer>;

PreTokenizerPtr make_sequence_pre_tokenizer(std::vector<PreTokenizerPtr> steps);
PreTokenizerPtr make_regex_split(const std::string& regex, SplitBehavior behavior, bool invert);
PreTokenizerPtr make_literal_split(const std::string& literal, SplitBehavior behavior, bool invert);
PreTokenizerPtr make_byte_level(bool add_prefix_space, bool use_regex);
PreTokenizerPtr make_digits(bool individual_digits);
PreTokenizerPtr make_punctuation(SplitBehavior behavior);
PreTokenizerPtr make_whitespace();        // \w+|[^\w\s]+
PreTokenizerPtr make_whitespace_split();  // on whitespace, removed
PreTokenizerPtr make_bert_pre_tokenizer();
enum class PrependScheme { Always, First, Never };
PreTokenizerPtr make_metaspace(std::string replacement, PrependScheme scheme, bool split);

// The GPT-2 word pattern (ByteLevel use_regex).
extern const char* const kGpt2Pattern;

}  // namespace strata
