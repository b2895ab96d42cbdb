// safetensors header and Hugging Face config.json (BAD_INPUTS 12, 13). The first byte
// picks the parser: even = a safetensors file, odd = a config.json text. Either parses or
// throws strata::Error; nothing else may escape.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "fuzz_input.h"
#include "model/model_config.h"
#include "model/safetensors.h"

namespace strata::fuzz {
namespace {

void fuzz_safetensors_file(std::string_view bytes) {
  std::shared_ptr<SafetensorsFile> file;
  try {
    file = SafetensorsFile::from_memory(
        storage_of(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), "fuzz.safetensors");
  } catch (const Error&) {
    return;
  }
  for (const std::string& name : file->tensor_names()) {
    try {
      (void)file->tensor(name);
    } catch (const Error&) {
    }
  }
}

void fuzz_config_json(std::string_view text) {
  nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return;
  try {
    (void)model_config_from_hf_json(config, "fuzz/config.json");
  } catch (const Error&) {
  }
}

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [choice, rest] = strata::fuzz::split_selector(data, size);
  if (choice % 2 == 0) strata::fuzz::fuzz_safetensors_file(rest);
  else strata::fuzz::fuzz_config_json(rest);
  return 0;
}
