// Loading a Hugging Face tokenizer.json (and the tokenizer_config.json beside it), then
// encode, decode and incremental detokenization with whatever tokenizer it describes.
// Input: a selector byte (bit 0: add_special, bit 1: parse_special, bit 2: skip_special),
// then the tokenizer.json text, a NUL byte, the text to encode (its bytes are also decoded
// as token ids), and optionally a NUL byte and a tokenizer_config.json.
// A malformed file must give a strata::Error; any other exception escaping the loader or
// the tokenizer is a crash, and so are out-of-range ids from encode and invalid UTF-8 from
// the incremental detokenizer.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "fuzz_detokenize.h"
#include "fuzz_input.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace strata::fuzz {
namespace {

// A private directory for the files (the loader reads a path; tmpfs when there is one).
std::string work_dir;

void write_file(const std::string& path, std::string_view data) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f) != data.size()) std::abort();
  std::fclose(f);
}

void check_ids(const Tokenizer& t, const std::vector<int32_t>& ids) {
  for (int32_t id : ids)
    if (id < 0 || id >= t.vocab_size()) std::abort();  // encode produced an invalid id
}

void exercise(const Tokenizer& t, std::string_view text, uint8_t flags) {
  const bool add_special = flags & 1, parse_special = flags & 2, skip_special = flags & 4;
  std::vector<int32_t> ids = t.encode(text, add_special, parse_special);
  check_ids(t, ids);
  // The text's bytes as ids too: mostly inside the vocabulary, some outside it.
  for (size_t i = 0; i + 2 <= text.size() && ids.size() < 256; i += 2) {
    const int32_t raw = static_cast<uint8_t>(text[i]) | static_cast<uint8_t>(text[i + 1]) << 8;
    ids.push_back(raw == 0xffff ? -1 : t.vocab_size() > 0 ? raw % (t.vocab_size() + 1) : raw);
  }
  fuzz::decode_and_stream(t, ids, skip_special);
  for (int32_t id : ids) {
    if (id < 0 || id >= t.vocab_size()) continue;
    (void)t.is_special(id);
    (void)t.token_id(t.token_text(id));
  }
  (void)t.bos_text();
  (void)t.eos_text();
}

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  namespace fs = std::filesystem;
  const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  std::string pattern = (base / "strata-fuzz-tokenizer-json-XXXXXX").string();
  if (!mkdtemp(pattern.data())) std::abort();
  strata::fuzz::work_dir = pattern;
  std::atexit([] { std::filesystem::remove_all(strata::fuzz::work_dir); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata::fuzz;
  auto [flags, rest] = split_selector(data, size);
  std::string_view json = rest, text, config;
  if (const size_t nul = json.find('\0'); nul != std::string_view::npos) {
    text = json.substr(nul + 1);
    json = json.substr(0, nul);
    if (const size_t nul2 = text.find('\0'); nul2 != std::string_view::npos) {
      config = text.substr(nul2 + 1);
      text = text.substr(0, nul2);
    }
  }
  const std::string path = work_dir + "/tokenizer.json", config_path = work_dir + "/tokenizer_config.json";
  write_file(path, json);
  if (config.empty()) std::remove(config_path.c_str());
  else write_file(config_path, config);
  try {
    auto tokenizer = strata::Tokenizer::from_tokenizer_json(path);
    exercise(*tokenizer, text, flags);
  } catch (const strata::Error&) {
    // A clear error is an acceptable answer to a malformed file.
  }
  return 0;
}
