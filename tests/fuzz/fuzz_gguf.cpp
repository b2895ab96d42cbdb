// GGUF reader (BAD_INPUTS 1-11): any byte string either parses or throws strata::Error;
// a parsed file then goes through everything a load does before the weights: the tensor
// views, the model configuration and the tokenizer.
#include "core/error.h"
#include "fuzz_input.h"
#include "model/gguf.h"
#include "model/model_config.h"
#include "tokenizer/tokenizer.h"

namespace strata::fuzz {
namespace {

void use_parsed_file(const GGUFFile& file) {
  for (const auto& info : file.tensor_infos()) {
    try {
      (void)file.tensor(info.name);
    } catch (const Error&) {
    }
  }
  try {
    (void)model_config_from_gguf(file);
  } catch (const Error&) {
  }
  try {
    auto tokenizer = Tokenizer::from_gguf(file);
    (void)tokenizer->decode(tokenizer->encode("Hello <s> world 123", true, true), false);
  } catch (const Error&) {
  }
}

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata;
  std::shared_ptr<GGUFFile> file;
  try {
    file = GGUFFile::from_memory(fuzz::storage_of(data, size), "fuzz.gguf");
  } catch (const Error&) {
    return 0;
  }
  fuzz::use_parsed_file(*file);
  return 0;
}
