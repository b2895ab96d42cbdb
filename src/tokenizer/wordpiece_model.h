#pragma once
// WordPiece (BERT): greedy longest-match from the left; pieces after the first carry the
// continuation prefix ("##"); a word with any unmatchable part becomes the unknown token.
#include <memory>
#include <string>

#include "tokenizer/token_model.h"
#include "tokenizer/vocabulary.h"

namespace strata {

class WordPieceModel : public TokenModel {
 public:
  WordPieceModel(std::shared_ptr<const Vocabulary> vocab, int32_t unk, std::string prefix = "##",
                 size_t max_input_chars_per_word = 100);
  void tokenize(std::string_view word, std::vector<int32_t>& out) const override;

 private:
  std::shared_ptr<const Vocabulary> vocab_;
  int32_t unk_;
  std::string prefix_;
  size_t max_chars_;
};

}  // namespace strata
