// The chat formatter over the real Jinja chat template; kept in its own file so that
// programs using a fake formatter do not link the template interpreter.
#include "chat_template/chat_template.h"
#include "core/error.h"
#include "server/api_error.h"
#include "server/chat_prompt.h"
#include "tokenizer/tokenizer.h"

namespace strata {

namespace {

class TemplateChatFormatter : public ChatFormatter {
 public:
  TemplateChatFormatter(const std::string& source, std::string bos, std::string eos)
      : template_(source), bos_(std::move(bos)), eos_(std::move(eos)) {}

  std::string render(const nlohmann::json& messages, bool add_generation_prompt) const override {
    ChatTemplateInputs inputs;
    inputs.messages = messages;
    inputs.add_generation_prompt = add_generation_prompt;
    inputs.bos_token = bos_;
    inputs.eos_token = eos_;
    try {
      return template_.render(inputs);
    } catch (const Error& e) {
      // Templates raise on conversations they refuse (e.g. roles not alternating).
      throw ApiError(400, "invalid_request_error",
                     std::string("The chat template rejected the messages: ") + e.what(),
                     "messages");
    }
  }

 private:
  ChatTemplate template_;
  std::string bos_;
  std::string eos_;
};

}  // namespace

std::unique_ptr<ChatFormatter> make_template_chat_formatter(const std::string& template_source,
                                                            std::string bos_text,
                                                            std::string eos_text) {
  return std::make_unique<TemplateChatFormatter>(template_source, std::move(bos_text),
                                                 std::move(eos_text));
}

std::unique_ptr<ChatFormatter> make_template_chat_formatter(const Tokenizer& tokenizer) {
  if (tokenizer.chat_template().empty()) {
    throw Error("the model has no chat template; /v1/chat/completions needs one");
  }
  return make_template_chat_formatter(tokenizer.chat_template(), bos_token_text(tokenizer),
                                      eos_token_text(tokenizer));
}

}  // namespace strata
