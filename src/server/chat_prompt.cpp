#include "server/chat_prompt.h"

#include "server/json_body.h"
#include "tokenizer/tokenizer.h"

namespace strata {

std::string bos_token_text(const Tokenizer& tokenizer) {
  const auto& bos = tokenizer.special().bos;
  return bos ? tokenizer.token_text(*bos) : std::string();
}

std::string eos_token_text(const Tokenizer& tokenizer) {
  const auto& eos = tokenizer.special().eos;
  return eos ? tokenizer.token_text(*eos) : std::string();
}

std::vector<int32_t> encode_chat_prompt(const Tokenizer& tokenizer, const std::string& text) {
  std::vector<int32_t> ids = tokenizer.encode(text, /*add_special=*/false, /*parse_special=*/true);
  const auto& special = tokenizer.special();
  if (special.add_bos && special.bos) {
    bool template_wrote_bos = !ids.empty() && ids.front() == *special.bos;
    if (!template_wrote_bos) ids.insert(ids.begin(), *special.bos);
  }
  return ids;
}

std::vector<int32_t> encode_completion_prompt(const Tokenizer& tokenizer, const std::string& text) {
  return tokenizer.encode(text, /*add_special=*/true, /*parse_special=*/true);
}

std::string decode_text(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  return utf8_lossy(tokenizer.decode_bytes(ids, /*skip_special=*/false));
}

}  // namespace strata
