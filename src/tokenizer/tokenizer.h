#pragma once
// Tokenizers: byte-level BPE (GPT-2, Llama 3, Qwen, DeepSeek, StarCoder, ... pre-tokenizers)
// and SentencePiece BPE with byte fallback (Llama 2), loaded from GGUF metadata or from a
// Hugging Face tokenizer.json (+ tokenizer_config.json). Results match the Hugging Face
// `tokenizers` library id for id.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

class GGUFFile;

struct SpecialTokens {
  std::optional<int32_t> bos;
  std::optional<int32_t> eos;
  std::vector<int32_t> end_of_generation;  // eos, eot, eom, <|im_end|>, ...: stop generation
  std::optional<int32_t> unk;
  std::optional<int32_t> pad;
  bool add_bos = false;  // prepend bos when encoding a prompt with add_special
  bool add_eos = false;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  static std::unique_ptr<Tokenizer> from_gguf(const GGUFFile& file);
  // tokenizer.json, with tokenizer_config.json beside it if present (special tokens,
  // add_bos, chat template).
  static std::unique_ptr<Tokenizer> from_tokenizer_json(const std::string& path);
  // A GGUF file, a tokenizer.json, or a directory holding tokenizer.json.
  static std::unique_ptr<Tokenizer> load(const std::string& path);

  // add_special: prepend bos (and append eos) as the model's config says.
  // parse_special: text such as "<|im_start|>" becomes its special token id; otherwise it
  // is tokenized as plain text.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;
  // Concatenated bytes of the tokens (may end in an incomplete UTF-8 sequence; invalid
  // sequences become U+FFFD only in decode()).
  virtual std::string decode_bytes(std::span<const int32_t> ids, bool skip_special) const = 0;
  // Whether decoding a list equals decoding each token alone and joining the bytes (no
  // step treats the first token apart or looks across tokens): then a stream decodes
  // each new token alone.
  virtual bool decodes_per_token() const { return false; }
  std::string decode(std::span<const int32_t> ids, bool skip_special) const;

  virtual int32_t vocab_size() const = 0;
  virtual std::string token_text(int32_t id) const = 0;  // the vocabulary entry as stored
  virtual bool is_special(int32_t id) const = 0;         // control / added special token
  virtual std::optional<int32_t> token_id(std::string_view text) const = 0;

  const SpecialTokens& special() const { return special_; }
  const std::string& chat_template() const { return chat_template_; }
  std::string bos_text() const;
  std::string eos_text() const;

 protected:
  SpecialTokens special_;
  std::string chat_template_;
};

// Turns a stream of token ids into text pieces that never split a UTF-8 character:
// bytes of an incomplete character are held back until it completes (or flush()).
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special);
  std::string push(int32_t id);  // text that became complete with this token
  std::string flush();           // whatever is held back (invalid bytes as U+FFFD)

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;                   // bytes of an incomplete character
  std::optional<int32_t> previous_id_;    // context: decoders treat the first token apart

};

}  // namespace strata
