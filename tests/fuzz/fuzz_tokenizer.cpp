// Tokenizer encode and decode over arbitrary bytes, with real vocabularies from
// ../shared/fixtures: SentencePiece BPE (llama-spm), byte-level BPE (gpt-2, GGUF; Llama 3,
// tokenizer.json) and WordPiece (bert-bge). The first byte picks the tokenizer and flags;
// the rest is text to encode, or (flag bit 4) token ids to decode, incrementally too.
// Byte-level BPE must round-trip valid UTF-8 exactly: a mismatch is a crash.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "fuzz_detokenize.h"
#include "fuzz_input.h"
#include "model/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace strata::fuzz {
namespace {

struct Loaded {
  std::unique_ptr<Tokenizer> tokenizer;
  bool byte_level_round_trip;  // decode(encode(text)) == text for valid UTF-8
};

std::vector<Loaded> load_tokenizers() {
  const std::string dir = std::string(STRATA_SHARED_DIR) + "/fixtures/tokenizers/";
  auto gguf = [&](const char* name) {
    return Tokenizer::from_gguf(*GGUFFile::open(dir + "gguf-vocab/" + name));
  };
  std::vector<Loaded> all;
  all.push_back({gguf("ggml-vocab-llama-spm.gguf"), false});
  all.push_back({gguf("ggml-vocab-gpt-2.gguf"), true});
  all.push_back({gguf("ggml-vocab-bert-bge.gguf"), false});
  all.push_back({Tokenizer::from_tokenizer_json(dir + "hf/llama3_1/tokenizer.json"), true});
  return all;
}

void fuzz_encode(const Loaded& loaded, std::string_view text, bool add_special, bool parse_special) {
  const Tokenizer& t = *loaded.tokenizer;
  std::vector<int32_t> ids = t.encode(text, add_special, parse_special);
  for (int32_t id : ids) {
    if (id < 0 || id >= t.vocab_size()) std::abort();  // encode produced an invalid id
  }
  std::string decoded = t.decode(ids, /*skip_special=*/false);
  if (loaded.byte_level_round_trip && !add_special && !parse_special && utf8::is_valid(text) &&
      decoded != text) {
    std::abort();
  }
}

void fuzz_decode(const Tokenizer& t, std::string_view bytes, bool skip_special) {
  std::vector<int32_t> ids(bytes.size() / 4);
  if (!ids.empty()) std::memcpy(ids.data(), bytes.data(), ids.size() * 4);
  // Mostly ids inside the vocabulary, with the raw (possibly negative or huge) value
  // whenever its top bit is set.
  for (int32_t& id : ids) {
    if (id >= 0) id %= t.vocab_size();
  }
  fuzz::decode_and_stream(t, ids, skip_special);
}

}  // namespace
}  // namespace strata::fuzz

namespace {
// Loaded before the first input: under ASan, loading takes longer than the per-input
// timeout, which would report a "timeout" on whichever input comes first.
const std::vector<strata::fuzz::Loaded>* tokenizers = nullptr;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizers = new std::vector<strata::fuzz::Loaded>(strata::fuzz::load_tokenizers());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata::fuzz;
  auto [choice, rest] = split_selector(data, size);
  const Loaded& loaded = (*tokenizers)[choice % tokenizers->size()];
  const bool flag_a = choice & 4, flag_b = choice & 8;
  try {
    if (choice & 16) fuzz_decode(*loaded.tokenizer, rest, flag_a);
    else fuzz_encode(loaded, rest, flag_a, flag_b);
  } catch (const strata::Error&) {
    // A clear error is an acceptable answer to bad input.
  }
  return 0;
}
