#pragma once
// Decoders: token texts -> output bytes (the `decoder` of a Hugging Face tokenizer.json,
// or what a GGUF tokenizer model implies). Each step rewrites the list of token strings;
// the result is their concatenation. Bytes stay raw: invalid UTF-8 is only replaced by
// Tokenizer::decode.
#include <memory>
#include <string>
#include <vector>

namespace strata {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode(std::vector<std::string>& tokens) const = 0;
  // Whether decode() rewrites each token by itself (the concatenation of decoding tokens
  // one at a time is the same): no first-token rule, no step that reads across tokens.
  virtual bool per_token() const { return false; }
  virtual bool fuses() const { return false; }  // joins all tokens into one
};

using DecoderPtr = std::unique_ptr<Decoder>;

DecoderPtr make_sequence_decoder(std::vector<DecoderPtr> steps);
DecoderPtr make_byte_level_decoder();
DecoderPtr make_replace_decoder(std::string pattern, std::string content);
DecoderPtr make_byte_fallback_decoder();  // "<0xAB>" tokens -> the byte
DecoderPtr make_fuse_decoder();
// Removes up to `start` leading and `stop` trailing copies of `content` from each token.
DecoderPtr make_strip_decoder(std::string content, size_t start, size_t stop);
// "▁" -> " "; when `strip_first_space`, the first token's "▁" are dropped instead.
DecoderPtr make_metaspace_decoder(std::string replacement, bool strip_first_space);
DecoderPtr make_wordpiece_decoder(std::string prefix, bool cleanup);

}  // namespace strata
