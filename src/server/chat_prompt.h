#pragma once
// Turning chat messages into prompt tokens: the model's chat template renders the
// messages, then the tokenizer encodes the text with special tokens parsed. A bos token
// is prepended only when the model wants one and the template did not already write it
// (as vLLM and Hugging Face do).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace strata {

class Tokenizer;

// Renders messages to prompt text. The real one wraps ChatTemplate; tests use a fake.
class ChatFormatter {
 public:
  virtual ~ChatFormatter() = default;
  virtual std::string render(const nlohmann::json& messages, bool add_generation_prompt) const = 0;
};

// A formatter over the tokenizer's chat template (chat_prompt_template.cpp).
std::unique_ptr<ChatFormatter> make_template_chat_formatter(const Tokenizer& tokenizer);
std::unique_ptr<ChatFormatter> make_template_chat_formatter(const std::string& template_source,
                                                            std::string bos_text,
                                                            std::string eos_text);

// The token text of the tokenizer's bos/eos, or "" when it has none.
std::string bos_token_text(const Tokenizer& tokenizer);
std::string eos_token_text(const Tokenizer& tokenizer);

// Encodes rendered chat text (special tokens parsed), adding bos as described above.
std::vector<int32_t> encode_chat_prompt(const Tokenizer& tokenizer, const std::string& text);

// Encodes a plain completion prompt: bos/eos as the model's config says.
std::vector<int32_t> encode_completion_prompt(const Tokenizer& tokenizer, const std::string& text);

// The text of token ids (invalid UTF-8 becomes U+FFFD).
std::string decode_text(const Tokenizer& tokenizer, const std::vector<int32_t>& ids);

}  // namespace strata
