#include "model/llama_weights.h"

#include <map>

#include "core/error.h"
#include "core/half.h"

namespace strata {

namespace {

// GGUF suffix -> Hugging Face suffix for per-layer tensors.
const std::map<std::string, std::string>& hf_layer_names() {
  static const std::map<std::string, std::string> names = {
      {"attn_norm.weight", "input_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_q.bias", "self_attn.q_proj.bias"},
      {"attn_k.bias", "self_attn.k_proj.bias"},
      {"attn_v.bias", "self_attn.v_proj.bias"},
      {"attn_q_norm.weight", "self_attn.q_norm.weight"},
      {"attn_k_norm.weight", "self_attn.k_norm.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"},
  };
  return names;
}

std::string shape_string(const Tensor::Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Tensor to_f32(const Tensor& t) {
  if (t.dtype() == DType::F32) return t;
  Tensor out = Tensor::empty(t.shape(), DType::F32);
  const Tensor src = t.contiguous();
  float* dst = out.data<float>();
  const auto* bits = src.data<uint16_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (t.dtype() == DType::F16) dst[i] = fp16_to_fp32(bits[i]);
    else if (t.dtype() == DType::BF16) dst[i] = bf16_to_fp32(bits[i]);
    else throw Error("cannot convert a " + std::string(dtype_name(t.dtype())) + " vector to f32");
  }
  return out;
}

class WeightGatherer {
 public:
  WeightGatherer(WeightNaming naming, const TensorLookup& lookup) : naming_(naming), lookup_(lookup) {}

  Tensor required(const std::string& name, const Tensor::Shape& expected) const {
    auto t = lookup_(name);
    if (!t) throw Error("required tensor '" + name + "' is missing from the model file");
    check_shape(name, *t, expected);
    return *t;
  }
  Tensor layer(const std::string& gguf_suffix, int index, const Tensor::Shape& expected) const {
    return required(weight_name(naming_, gguf_suffix, index), expected);
  }
  Tensor vector_f32(const std::string& gguf_suffix, int index, int64_t size) const {
    return to_f32(layer(gguf_suffix, index, {size}));
  }

 private:
  static void check_shape(const std::string& name, const Tensor& t, const Tensor::Shape& expected) {
    if (t.shape() != expected)
      throw Error("tensor '" + name + "' has shape " + shape_string(t.shape()) +
                  " but the model's configuration requires " + shape_string(expected));
  }
  WeightNaming naming_;
  const TensorLookup& lookup_;
};

LlamaLayerWeights load_layer(const ModelConfig& c, const WeightGatherer& g, int i) {
  const int64_t d = c.hidden_size, q_dim = int64_t{c.num_heads} * c.head_dim,
                kv_dim = int64_t{c.num_kv_heads} * c.head_dim, ff = c.intermediate_size;
  LlamaLayerWeights w;
  w.attn_norm = g.vector_f32("attn_norm.weight", i, d);
  w.wq = g.layer("attn_q.weight", i, {q_dim, d});
  w.wk = g.layer("attn_k.weight", i, {kv_dim, d});
  w.wv = g.layer("attn_v.weight", i, {kv_dim, d});
  if (c.qkv_bias) {
    w.bq = g.vector_f32("attn_q.bias", i, q_dim);
    w.bk = g.vector_f32("attn_k.bias", i, kv_dim);
    w.bv = g.vector_f32("attn_v.bias", i, kv_dim);
  }
  if (c.qk_norm) {
    w.q_norm = g.vector_f32("attn_q_norm.weight", i, c.head_dim);
    w.k_norm = g.vector_f32("attn_k_norm.weight", i, c.head_dim);
  }
  w.wo = g.layer("attn_output.weight", i, {d, q_dim});
  w.ffn_norm = g.vector_f32("ffn_norm.weight", i, d);
  w.w_gate = g.layer("ffn_gate.weight", i, {ff, d});
  w.w_up = g.layer("ffn_up.weight", i, {ff, d});
  w.w_down = g.layer("ffn_down.weight", i, {d, ff});
  return w;
}

}  // namespace

std::string weight_name(WeightNaming naming, const std::string& gguf_suffix, int layer) {
  if (naming == WeightNaming::GGUF) return "blk." + std::to_string(layer) + "." + gguf_suffix;
  const auto& names = hf_layer_names();
  auto it = names.find(gguf_suffix);
  if (it == names.end()) throw Error("no Hugging Face name for tensor '" + gguf_suffix + "'");
  return "model.layers." + std::to_string(layer) + "." + it->second;
}

std::string global_weight_name(WeightNaming naming, const std::string& gguf_name) {
  if (naming == WeightNaming::GGUF) return gguf_name;
  if (gguf_name == "token_embd.weight") return "model.embed_tokens.weight";
  if (gguf_name == "output_norm.weight") return "model.norm.weight";
  if (gguf_name == "output.weight") return "lm_head.weight";
  throw Error("no Hugging Face name for tensor '" + gguf_name + "'");
}

LlamaWeights load_llama_weights(const ModelConfig& c, WeightNaming naming, const TensorLookup& lookup) {
  const WeightGatherer g(naming, lookup);
  const int64_t d = c.hidden_size, v = c.vocab_size;
  LlamaWeights w;
  w.token_embd = g.required(global_weight_name(naming, "token_embd.weight"), {v, d});
  for (int i = 0; i < c.num_layers; ++i) w.layers.push_back(load_layer(c, g, i));
  w.output_norm = to_f32(g.required(global_weight_name(naming, "output_norm.weight"), {d}));
  w.output = c.tied_embeddings ? w.token_embd : g.required(global_weight_name(naming, "output.weight"), {v, d});
  return w;
}

}  // namespace strata
