// Writes a random-weight model as a Hugging Face directory: config.json in the shape
// transformers reads, and model.safetensors with Hugging Face names and layout.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "kernels/cpu/quant.h"
#include "model/random_model.h"
#include "model/safetensors.h"

namespace strata {

namespace {

const char* hf_architecture_class(const std::string& arch) {
  if (arch == "llama") return "LlamaForCausalLM";
  if (arch == "qwen2") return "Qwen2ForCausalLM";
  if (arch == "qwen3") return "Qwen3ForCausalLM";
  throw Error("no Hugging Face class for architecture '" + arch + "'");
}

const char* torch_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    default: throw InvalidArgument("--dtype", "safetensors models can be f32, f16 or bf16, not " +
                                                  std::string(dtype_name(dtype)));
  }
}

nlohmann::json hf_config_json(const ModelConfig& c, DType dtype) {
  nlohmann::json j = {
      {"architectures", {hf_architecture_class(c.architecture)}},
      {"model_type", c.architecture},
      {"hidden_act", "silu"},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads},
      {"num_key_value_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.context_length},
      {"rms_norm_eps", c.rms_norm_eps},
      {"rope_theta", c.rope.theta},
      {"tie_word_embeddings", c.tied_embeddings},
      {"attention_bias", c.architecture == "qwen2"},
      {"mlp_bias", false},
      {"torch_dtype", torch_dtype_name(dtype)},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
  };
  if (c.architecture == "qwen2") {
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
  }
  if (c.rope.scaling == RopeConfig::Scaling::Llama3) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope.factor},
                         {"low_freq_factor", c.rope.low_freq_factor},
                         {"high_freq_factor", c.rope.high_freq_factor},
                         {"original_max_position_embeddings", c.rope.original_max_positions}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  return j;
}

std::vector<uint8_t> encode(const RandomTensor& t, DType dtype) {
  const int64_t n = static_cast<int64_t>(t.values.size());
  std::vector<uint8_t> bytes(static_cast<size_t>(dtype_row_bytes(dtype, n)));
  cpu::quantize_row(dtype, t.values.data(), bytes.data(), n);
  return bytes;
}

}  // namespace

void write_random_safetensors(const ModelConfig& config, const RandomModelOptions& options,
                              const std::string& directory) {
  const nlohmann::json config_json = hf_config_json(config, options.dtype);
  std::filesystem::create_directories(directory);
  SafetensorsWriter writer;
  writer.add_metadata("format", "pt");
  for (auto& t : random_model_layout(config)) {
    fill_random_tensor(t, options.seed);
    writer.add_tensor(t.hf_name, options.dtype, t.shape, encode(t, options.dtype));
  }
  writer.write(directory + "/model.safetensors");
  std::ofstream out(directory + "/config.json");
  out << config_json.dump(2) << "\n";
  if (!out) throw Error("cannot write " + directory + "/config.json");
}

}  // namespace strata
