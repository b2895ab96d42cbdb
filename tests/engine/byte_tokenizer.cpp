#include "byte_tokenizer.h"

namespace strata::testing {

namespace {

const char* const kSpecials[] = {"<s>", "</s>", "<|im_start|>", "<|im_end|>"};

}  // namespace

ByteTokenizer::ByteTokenizer() {
  special_.bos = 256;
  special_.eos = 257;
  special_.end_of_generation = {257, 259};
  special_.add_bos = true;
}

std::vector<int32_t> ByteTokenizer::encode(std::string_view text, bool add_special,
                                           bool parse_special) const {
  std::vector<int32_t> ids;
  if (add_special) ids.push_back(256);
  for (size_t i = 0; i < text.size();) {
    bool matched = false;
    for (int s = 0; parse_special && s < 4; ++s) {
      std::string_view special = kSpecials[s];
      if (text.substr(i).starts_with(special)) {
        ids.push_back(256 + s);
        i += special.size();
        matched = true;
        break;
      }
    }
    if (!matched) ids.push_back(static_cast<unsigned char>(text[i++]));
  }
  return ids;
}

std::string ByteTokenizer::decode_bytes(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 256) out += static_cast<char>(id);
    else if (!skip_special) out += token_text(id);
  }
  return out;
}

std::string ByteTokenizer::token_text(int32_t id) const {
  if (id < 256) return std::string(1, static_cast<char>(id));
  if (id < 260) return kSpecials[id - 256];
  return "<unused_" + std::to_string(id) + ">";
}

std::optional<int32_t> ByteTokenizer::token_id(std::string_view text) const {
  for (int s = 0; s < 4; ++s) if (text == kSpecials[s]) return 256 + s;
  if (text.size() == 1) return static_cast<unsigned char>(text[0]);
  return std::nullopt;
}

}  // namespace strata::testing
