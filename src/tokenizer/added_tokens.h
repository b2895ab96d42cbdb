#pragma once
// Added tokens (special tokens such as "<|im_start|>" and user-defined ones) are found in
// the raw text before the rest of the pipeline runs: leftmost match, longest among those
// starting there, as Hugging Face tokenizers does.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;      // only matched when parsing special tokens
  bool lstrip = false;       // swallows whitespace on its left
  bool rstrip = false;       // swallows whitespace on its right
  bool single_word = false;  // only matches when not inside a word
  bool normalized = false;
};

struct TextSegment {
  std::string_view text;  // plain text to tokenize (empty when id >= 0)
  int32_t id = -1;        // an added token
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);

  // Splits `text` into plain-text segments and added tokens. Special tokens are only
  // recognised when `parse_special`; non-special added tokens always are.
  std::vector<TextSegment> split(std::string_view text, bool parse_special) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
    int32_t token = -1;                                       // index into tokens_
  };
  int32_t child(int32_t node, unsigned char byte) const;
  void insert(const std::string& content, int32_t token_index);
  // Longest token matching at `pos`; returns its index or -1, sets `length`.
  int32_t longest_match(std::string_view text, size_t pos, bool parse_special, size_t& length) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;
};

}  // namespace strata
