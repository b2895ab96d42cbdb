#pragma once
// The pre-tokenizer regexes of byte-level BPE models by GGUF `tokenizer.ggml.pre` name,
// applied in order (each splits the pieces of the previous one, keeping everything),
// as the matching Hugging Face tokenizer.json files do.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

struct GgufPrePatterns {
  std::vector<std::string> regexes;
  bool ignore_merges = false;  // Llama 3: a word that is a token is not split
};

std::optional<GgufPrePatterns> gguf_pre_patterns(std::string_view pre);

}  // namespace strata
