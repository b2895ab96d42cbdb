#include "model/model_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/gguf.h"
#include "model/json_fields.h"

namespace strata {

namespace {

bool is_supported_gguf_arch(const std::string& arch) {
  return arch == "llama" || arch == "qwen2" || arch == "qwen3";
}

int gguf_int_field(const GGUFFile& file, const std::string& key) {
  return static_cast<int>(file.get_int(key));
}

RopeConfig::Scaling parse_rope_scaling(const std::string& type, const std::string& where) {
  if (type == "none" || type.empty()) return RopeConfig::Scaling::None;
  if (type == "linear") return RopeConfig::Scaling::Linear;
  if (type == "llama3") return RopeConfig::Scaling::Llama3;
  throw Error(where + ": unsupported rope scaling type '" + type + "' (supported: linear, llama3)");
}

void read_gguf_rope_scaling(const GGUFFile& file, const std::string& arch, RopeConfig& rope) {
  const auto type = file.try_string(arch + ".rope.scaling.type");
  if (!type) return;
  rope.scaling = parse_rope_scaling(*type, file.path() + ": " + arch + ".rope.scaling.type");
  if (rope.scaling == RopeConfig::Scaling::None) return;
  rope.factor = static_cast<float>(file.get_float(arch + ".rope.scaling.factor"));
  if (rope.scaling != RopeConfig::Scaling::Llama3) return;
  rope.low_freq_factor = static_cast<float>(file.try_float(arch + ".rope.scaling.low_freq_factor").value_or(1.0));
  rope.high_freq_factor = static_cast<float>(file.try_float(arch + ".rope.scaling.high_freq_factor").value_or(4.0));
  rope.original_max_positions =
      static_cast<int>(file.get_int(arch + ".rope.scaling.original_context_length"));
}

int gguf_vocab_size(const GGUFFile& file, const std::string& arch) {
  if (auto v = file.try_int(arch + ".vocab_size")) return static_cast<int>(*v);
  if (const auto* info = file.find_tensor("token_embd.weight"); info && info->dims.size() == 2)
    return static_cast<int>(info->dims[1]);
  throw FileFormatError(file.path(), 0, "cannot tell the vocabulary size: no " + arch +
                                            ".vocab_size and no token_embd.weight tensor");
}

}  // namespace

ModelConfig model_config_from_gguf(const GGUFFile& file) {
  ModelConfig c;
  const std::string arch = file.get_string("general.architecture");
  if (!is_supported_gguf_arch(arch))
    throw FileFormatError(file.path(), 0, "unsupported model architecture '" + arch +
                                              "' (supported: llama, qwen2, qwen3)");
  c.architecture = arch;
  c.name = file.try_string("general.name").value_or("");
  c.num_layers = gguf_int_field(file, arch + ".block_count");
  c.hidden_size = gguf_int_field(file, arch + ".embedding_length");
  c.intermediate_size = gguf_int_field(file, arch + ".feed_forward_length");
  c.num_heads = gguf_int_field(file, arch + ".attention.head_count");
  c.num_kv_heads = static_cast<int>(file.try_int(arch + ".attention.head_count_kv").value_or(c.num_heads));
  if (c.num_heads <= 0) throw FileFormatError(file.path(), 0, arch + ".attention.head_count must be positive");
  c.head_dim = static_cast<int>(file.try_int(arch + ".attention.key_length").value_or(c.hidden_size / c.num_heads));
  c.vocab_size = gguf_vocab_size(file, arch);
  c.context_length = gguf_int_field(file, arch + ".context_length");
  c.rms_norm_eps = static_cast<float>(file.try_float(arch + ".attention.layer_norm_rms_epsilon").value_or(1e-5));
  c.rope.head_dim = c.head_dim;
  c.rope.rotary_dim = static_cast<int>(file.try_int(arch + ".rope.dimension_count").value_or(c.head_dim));
  c.rope.theta = static_cast<float>(file.try_float(arch + ".rope.freq_base").value_or(10000.0));
  c.rope.neox = arch != "llama";
  read_gguf_rope_scaling(file, arch, c.rope);
  c.qkv_bias = arch == "qwen2" || file.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.qk_norm = arch == "qwen3";
  c.tied_embeddings = file.find_tensor("output.weight") == nullptr;
  return c;
}

namespace {

void read_hf_rope_scaling(const JsonFieldReader& f, RopeConfig& rope) {
  const auto scaling = f.try_object("rope_scaling");
  if (!scaling) return;
  const auto type = scaling->try_string("rope_type");
  const std::string name = type ? *type : scaling->get_string("type");
  rope.scaling = parse_rope_scaling(name == "default" ? "none" : name, f.file() + ": rope_scaling");
  rope.factor = static_cast<float>(scaling->try_float("factor").value_or(1.0));
  rope.low_freq_factor = static_cast<float>(scaling->try_float("low_freq_factor").value_or(1.0));
  rope.high_freq_factor = static_cast<float>(scaling->try_float("high_freq_factor").value_or(4.0));
  rope.original_max_positions =
      static_cast<int>(scaling->try_int("original_max_position_embeddings").value_or(8192));
}

}  // namespace

ModelConfig model_config_from_hf_json(const nlohmann::json& config, const std::string& source) {
  if (!config.is_object()) throw FileFormatError(source, 0, "expected a JSON object");
  const JsonFieldReader f(config, source);
  const std::string type = f.get_string("model_type");
  if (type != "llama" && type != "mistral" && type != "qwen2" && type != "qwen3")
    f.fail("model_type", "unsupported model type '" + type + "' (supported: llama, mistral, qwen2, qwen3)");
  auto get = [&](std::string_view field) { return static_cast<int>(f.get_int_in_range(field, 1, 1 << 30)); };
  ModelConfig c;
  c.architecture = type;
  c.name = f.find("_name_or_path") && f.find("_name_or_path")->is_string() ? f.get_string("_name_or_path") : "";
  c.num_layers = get("num_hidden_layers");
  c.hidden_size = get("hidden_size");
  c.intermediate_size = get("intermediate_size");
  c.num_heads = get("num_attention_heads");
  c.num_kv_heads = f.has("num_key_value_heads") ? get("num_key_value_heads") : c.num_heads;
  c.head_dim = f.has("head_dim") ? get("head_dim") : c.hidden_size / c.num_heads;
  c.vocab_size = get("vocab_size");
  c.context_length = f.has("max_position_embeddings") ? get("max_position_embeddings") : 4096;
  c.rms_norm_eps = static_cast<float>(f.try_float("rms_norm_eps").value_or(1e-6));
  c.rope.head_dim = c.head_dim;
  c.rope.rotary_dim = c.head_dim;
  c.rope.theta = static_cast<float>(f.try_float("rope_theta").value_or(10000.0));
  c.rope.neox = true;  // Hugging Face checkpoints rotate halves
  read_hf_rope_scaling(f, c.rope);
  c.qkv_bias = type == "qwen2" || f.try_bool("attention_bias").value_or(false);
  c.qk_norm = type == "qwen3";
  c.tied_embeddings = f.try_bool("tie_word_embeddings").value_or(false);
  return c;
}

}  // namespace strata
