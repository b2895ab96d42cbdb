// Jinja chat templates (BAD_INPUTS 14): any source either parses and renders within the
// render limits, or throws strata::Error; no crash, no stack overflow, bounded time.
#include "chat_template/chat_template.h"

namespace strata::fuzz {
namespace {

const ChatTemplateInputs& sample_inputs() {
  static const ChatTemplateInputs inputs = [] {
    ChatTemplateInputs in;
    in.messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Hi <b>there</b> 😀"},
      {"role": "assistant", "content": "Hello!", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]},
      {"role": "tool", "content": "42"},
      {"role": "user", "content": [{"type": "text", "text": "parts"}]}])");
    in.tools = nlohmann::ordered_json::parse(
        R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])");
    in.add_generation_prompt = true;
    in.bos_token = "<s>";
    in.eos_token = "</s>";
    in.extra_context = {{"enable_thinking", false}};
    in.fixed_time = 0;
    return in;
  }();
  return inputs;
}

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    strata::ChatTemplate tmpl(source);
    (void)tmpl.render(strata::fuzz::sample_inputs());
  } catch (const strata::Error&) {
    // Syntax errors, raise_exception and exceeded limits are all clear errors.
  }
  return 0;
}
