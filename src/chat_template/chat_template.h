#pragma once
// Chat templates: renders a model's Jinja chat template with Hugging Face's semantics
// (trim_blocks, lstrip_blocks, the variables transformers passes) using Strata's own
// Jinja interpreter (chat_template/jinja_*.h).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace strata {

struct ChatTemplateInputs {
  // ordered_json: templates see dicts in their insertion order (tojson, items()), as in Python.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;      // null when absent
  nlohmann::ordered_json documents;  // null when absent (RAG templates read it)
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();  // e.g. enable_thinking
  // strftime_now() normally formats the current local time; tests pin it to this Unix
  // time (formatted as UTC) so that renders are reproducible.
  std::optional<int64_t> fixed_time;
};

class ChatTemplate {
 public:
  // Parses the template; throws strata::Error naming the line on a syntax error.
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Throws strata::Error (with the line) on raise_exception or an unsupported construct,
  // and on exceeding the render limits (output size, loop iterations, recursion depth).
  std::string render(const ChatTemplateInputs& inputs) const;

 private:
  std::string render_checked(const ChatTemplateInputs& inputs) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
