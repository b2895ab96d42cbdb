#pragma once
// A tokenizer for tests that need one without a vocabulary file: ids 0-255 are bytes (so a
// character can be split across tokens), 256 <s>, 257 </s>, 258 <|im_start|>, 259 <|im_end|>,
// 260-299 unused. Used by the engine tests and, through the fake engine, the server tests.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace strata::testing {

class ByteTokenizer : public Tokenizer {
 public:
  static constexpr int kVocab = 300;
  ByteTokenizer();
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string decode_bytes(std::span<const int32_t> ids, bool skip_special) const override;
  int32_t vocab_size() const override { return kVocab; }
  std::string token_text(int32_t id) const override;
  bool is_special(int32_t id) const override { return id >= 256; }
  std::optional<int32_t> token_id(std::string_view text) const override;
};

}  // namespace strata::testing
