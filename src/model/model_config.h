#pragma once
// ModelConfig from a GGUF file's metadata or a Hugging Face config.json. Supports the
// Llama family: llama (Llama 2/3/3.x incl. llama3 rope scaling, SmolLM2, Mistral),
// qwen2 (QKV bias) and qwen3 (QK-norm). Unknown architectures and missing fields throw
// errors naming them.
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "model/model.h"

namespace strata {

class GGUFFile;

// GGUF "llama" stores Q/K rows permuted for the interleaved-pairs rotary layout, so it
// uses neox = false; qwen2/qwen3 keep the Hugging Face (neox) layout.
ModelConfig model_config_from_gguf(const GGUFFile& file);

// `source` names the file in error messages (e.g. ".../config.json").
ModelConfig model_config_from_hf_json(const nlohmann::json& config, const std::string& source);

}  // namespace strata
