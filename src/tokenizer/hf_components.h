#pragma once
// Builders for the parts of a Hugging Face tokenizer.json pipeline (normalizer,
// pre_tokenizer, decoder, model, post_processor) from their JSON description.
#include <nlohmann/json.hpp>

#include "tokenizer/pipeline_tokenizer.h"

namespace strata::hf {

NormalizerPtr build_normalizer(const nlohmann::json& j);      // null for JSON null
PreTokenizerPtr build_pre_tokenizer(const nlohmann::json& j);  // null for JSON null
DecoderPtr build_decoder(const nlohmann::json& j);             // null for JSON null
// Sets parts.model (and needs parts.model_vocab filled from the model's vocab first).
void build_model(const nlohmann::json& j, TokenizerParts& parts);
// The ids a TemplateProcessing / BertProcessing / RobertaProcessing adds around a text.
void read_post_processor(const nlohmann::json& j, TokenizerParts& parts);
// A token id: an integer JSON number in int32 range, else InvalidArgument naming `what`.
int32_t read_token_id(const nlohmann::json& j, const std::string& what);

}  // namespace strata::hf
