#pragma once
// Byte-pair encoding over one word: start from single characters (or byte-fallback
// tokens) and repeatedly apply the best-ranked merge, leftmost first among equals.
// Merges come either from an explicit merge list (Hugging Face, GGUF "gpt2") or from
// SentencePiece scores (GGUF "llama": a pair merges if its concatenation is a token,
// higher score first).
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/token_model.h"
#include "tokenizer/vocabulary.h"

namespace strata {

struct BpeOptions {
  std::optional<int32_t> unk;
  bool fuse_unk = false;
  bool byte_fallback = false;  // unknown characters become <0xXX> tokens
  bool ignore_merges = false;  // a word that is itself a token is emitted whole
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
};

class BpeModel : public TokenModel {
 public:
  BpeModel(std::shared_ptr<const Vocabulary> vocab, BpeOptions options);

  // Merge list in priority order; each entry is the two token texts.
  void set_merges(const std::vector<std::pair<std::string, std::string>>& merges);
  // SentencePiece style: every token in `mergeable` that splits into two tokens yields a
  // merge ranked by its score (higher first).
  void set_merges_from_scores(const std::vector<float>& scores, const std::vector<bool>& mergeable);

  void tokenize(std::string_view word, std::vector<int32_t>& out) const override;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void initial_symbols(std::string_view word, std::vector<int32_t>& ids) const;
  void apply_merges(std::vector<int32_t>& ids) const;

  std::shared_ptr<const Vocabulary> vocab_;
  BpeOptions options_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::vector<int32_t> byte_tokens_;  // <0xXX> ids, -1 where missing
  // Ids of single characters below U+0180 (the whole byte-level alphabet), -1 if none:
  // the initial symbols of a word without hashing.
  std::vector<int32_t> small_char_ids_;

  // Words repeat a lot in real text; their merged ids are cached (bounded, thread-safe).
  static constexpr size_t kMaxCachedWords = 1 << 16;
  static constexpr size_t kMaxCachedWordBytes = 64;
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace strata
