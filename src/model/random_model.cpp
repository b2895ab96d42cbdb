#include "model/random_model.h"

#include <cmath>

#include "core/error.h"
#include "model/llama_weights.h"

namespace strata {

namespace {

ModelConfig tiny_shape(const std::string& arch) {
  ModelConfig c;
  c.num_layers = 2;
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 64;
  c.vocab_size = 512;
  c.context_length = 2048;
  c.rms_norm_eps = 1e-5f;
  c.rope.theta = 10000.0f;
  if (arch == "llama") {
    // Llama 3.x style: large theta and llama3 rope scaling, untied output.
    c.rope.theta = 500000.0f;
    c.rope.scaling = RopeConfig::Scaling::Llama3;
    c.rope.factor = 8.0f;
    c.rope.low_freq_factor = 1.0f;
    c.rope.high_freq_factor = 4.0f;
    c.rope.original_max_positions = 8192;
    c.context_length = 32768;  // beyond the original context, as Llama 3.1
  } else if (arch == "qwen2") {
    c.tied_embeddings = true;
    c.rms_norm_eps = 1e-6f;
  } else {
    c.num_heads = 8;  // q_dim 512 != hidden 256: head_dim comes from the metadata
    c.rms_norm_eps = 1e-6f;
  }
  return c;
}

ModelConfig smollm2_shape() {
  ModelConfig c;
  c.num_layers = 30;
  c.hidden_size = 576;
  c.intermediate_size = 1536;
  c.num_heads = 9;
  c.num_kv_heads = 3;
  c.head_dim = 64;
  c.vocab_size = 49152;
  c.context_length = 8192;
  c.rope.theta = 100000.0f;
  c.tied_embeddings = true;
  return c;
}

ModelConfig llama8b_shape() {
  ModelConfig c;
  c.num_layers = 32;
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.vocab_size = 128256;
  c.context_length = 131072;
  c.rope.theta = 500000.0f;
  c.rope.scaling = RopeConfig::Scaling::Llama3;
  c.rope.factor = 8.0f;
  c.rope.original_max_positions = 8192;
  return c;
}

// Llama 3.2 1B: 16 layers of 2048, GQA 32/8 with head_dim 64, tied embeddings.
ModelConfig llama32_1b_shape() {
  ModelConfig c = llama8b_shape();
  c.num_layers = 16;
  c.hidden_size = 2048;
  c.intermediate_size = 8192;
  c.head_dim = 64;
  c.rope.factor = 32.0f;
  c.tied_embeddings = true;
  return c;
}

uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

// Box-Muller in double; both outputs used.
void fill_gaussian(std::vector<float>& out, uint64_t state, double mean, double stddev) {
  constexpr double kTwoPi = 6.283185307179586476925;
  for (size_t i = 0; i < out.size(); i += 2) {
    const double u1 = (static_cast<double>(splitmix(state) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    const double u2 = static_cast<double>(splitmix(state) >> 11) * (1.0 / 9007199254740992.0);
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = static_cast<float>(mean + stddev * r * std::cos(kTwoPi * u2));
    if (i + 1 < out.size()) out[i + 1] = static_cast<float>(mean + stddev * r * std::sin(kTwoPi * u2));
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void add_tensor(std::vector<RandomTensor>& out, const std::string& gguf_suffix, int layer,
                std::vector<int64_t> shape) {
  out.push_back({weight_name(WeightNaming::HuggingFace, gguf_suffix, layer),
                 weight_name(WeightNaming::GGUF, gguf_suffix, layer), std::move(shape), {}});
}

void add_global(std::vector<RandomTensor>& out, const std::string& gguf_name, std::vector<int64_t> shape) {
  out.push_back({global_weight_name(WeightNaming::HuggingFace, gguf_name), gguf_name, std::move(shape), {}});
}

}  // namespace

ModelConfig random_model_config(const std::string& arch, const std::string& shape) {
  if (arch != "llama" && arch != "qwen2" && arch != "qwen3")
    throw InvalidArgument("--arch", "unknown architecture '" + arch + "' (llama, qwen2, qwen3)");
  ModelConfig c;
  if (shape == "tiny") c = tiny_shape(arch);
  else if (shape == "smollm2-135m") c = smollm2_shape();
  else if (shape == "llama-8b" || shape == "llama-3.1-8b") c = llama8b_shape();
  else if (shape == "llama-3.2-1b") c = llama32_1b_shape();
  else
    throw InvalidArgument("--shape", "unknown shape '" + shape +
                                         "' (tiny, smollm2-135m, llama-3.2-1b, llama-3.1-8b or llama-8b)");
  c.architecture = arch;
  c.name = "random-" + arch + "-" + shape;
  c.rope.head_dim = c.head_dim;
  c.rope.rotary_dim = c.head_dim;
  c.rope.neox = true;
  c.qkv_bias = arch == "qwen2";
  c.qk_norm = arch == "qwen3";
  return c;
}

std::vector<RandomTensor> random_model_layout(const ModelConfig& c) {
  const int64_t d = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim,
                kv = int64_t{c.num_kv_heads} * c.head_dim, ff = c.intermediate_size;
  std::vector<RandomTensor> out;
  add_global(out, "token_embd.weight", {c.vocab_size, d});
  for (int i = 0; i < c.num_layers; ++i) {
    add_tensor(out, "attn_norm.weight", i, {d});
    add_tensor(out, "attn_q.weight", i, {q, d});
    add_tensor(out, "attn_k.weight", i, {kv, d});
    add_tensor(out, "attn_v.weight", i, {kv, d});
    if (c.qkv_bias) {
      add_tensor(out, "attn_q.bias", i, {q});
      add_tensor(out, "attn_k.bias", i, {kv});
      add_tensor(out, "attn_v.bias", i, {kv});
    }
    if (c.qk_norm) {
      add_tensor(out, "attn_q_norm.weight", i, {c.head_dim});
      add_tensor(out, "attn_k_norm.weight", i, {c.head_dim});
    }
    add_tensor(out, "attn_output.weight", i, {d, q});
    add_tensor(out, "ffn_norm.weight", i, {d});
    add_tensor(out, "ffn_gate.weight", i, {ff, d});
    add_tensor(out, "ffn_up.weight", i, {ff, d});
    add_tensor(out, "ffn_down.weight", i, {d, ff});
  }
  add_global(out, "output_norm.weight", {d});
  if (!c.tied_embeddings) add_global(out, "output.weight", {c.vocab_size, d});
  return out;
}

void fill_random_tensor(RandomTensor& t, uint64_t seed) {
  int64_t n = 1;
  for (int64_t dim : t.shape) n *= dim;
  t.values.resize(static_cast<size_t>(n));
  uint64_t state = seed ^ fnv1a(t.gguf_name);
  splitmix(state);
  if (ends_with(t.gguf_name, "norm.weight")) fill_gaussian(t.values, state, 1.0, 0.02);
  else if (ends_with(t.gguf_name, ".bias")) fill_gaussian(t.values, state, 0.0, 0.1);
  else fill_gaussian(t.values, state, 0.0, 0.02);
}

std::vector<float> permute_for_interleaved_rope(const std::vector<float>& values, int heads, int head_dim,
                                                int64_t cols) {
  std::vector<float> out(values.size());
  const int half = head_dim / 2;
  for (int h = 0; h < heads; ++h)
    for (int part = 0; part < 2; ++part)
      for (int i = 0; i < half; ++i) {
        const int64_t src_row = int64_t{h} * head_dim + part * half + i;
        const int64_t dst_row = int64_t{h} * head_dim + 2 * i + part;
        std::copy_n(values.begin() + src_row * cols, cols, out.begin() + dst_row * cols);
      }
  return out;
}

}  // namespace strata
