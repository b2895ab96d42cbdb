#pragma once
// The one Tokenizer implementation: added-token split -> normalizer -> pre-tokenizer ->
// model -> post-processing (bos/eos), and token texts -> decoder for the way back.
// The GGUF and tokenizer.json loaders only differ in how they assemble these parts.
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/token_model.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocabulary.h"

namespace strata {

struct TokenizerParts {
  std::shared_ptr<Vocabulary> model_vocab;  // what the model step knows
  std::vector<AddedToken> added_tokens;     // may have ids beyond the model vocabulary
  std::vector<bool> control;                // ids marked special beyond added tokens (GGUF)
  NormalizerPtr normalizer;                 // may be null
  PreTokenizerPtr pre_tokenizer;            // may be null
  std::unique_ptr<TokenModel> model;
  DecoderPtr decoder;                       // may be null (plain concatenation)
  std::vector<int32_t> prefix_ids;          // added by encode(add_special = true)
  std::vector<int32_t> suffix_ids;
  SpecialTokens special;
  std::string chat_template;
};

class PipelineTokenizer : public Tokenizer {
 public:
  explicit PipelineTokenizer(TokenizerParts parts);

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string decode_bytes(std::span<const int32_t> ids, bool skip_special) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(texts_.size()); }
  std::string token_text(int32_t id) const override;
  bool is_special(int32_t id) const override;
  std::optional<int32_t> token_id(std::string_view text) const override;
  bool decodes_per_token() const override { return !parts_.decoder || parts_.decoder->per_token(); }

 private:
  void encode_segment(std::string_view text, bool at_text_start, bool parse_special,
                      std::vector<int32_t>& out) const;
  void encode_words(std::string text, bool at_text_start, std::vector<int32_t>& out) const;

  TokenizerParts parts_;
  // As in Hugging Face: tokens with normalized = false are found in the raw text, the
  // others (their content normalized too) in the normalized text.
  AddedTokenMatcher raw_added_;
  AddedTokenMatcher normalized_added_;
  std::vector<std::string> texts_;  // every id: model vocabulary and added tokens
  std::vector<bool> special_ids_;
};

}  // namespace strata
