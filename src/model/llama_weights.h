#pragma once
// The tensors of a Llama-family model, found by name in a GGUF file or a Hugging Face
// checkpoint, with every shape checked against the configuration (the error names the
// tensor and both shapes).
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/model.h"

namespace strata {

struct LlamaLayerWeights {
  Tensor attn_norm;                 // [D]
  Tensor wq, wk, wv;                // [Hq*hd, D], [Hkv*hd, D], [Hkv*hd, D]
  Tensor bq, bk, bv;                // qkv_bias only
  Tensor q_norm, k_norm;            // [hd], qk_norm only
  Tensor wo;                        // [D, Hq*hd]
  Tensor ffn_norm;                  // [D]
  Tensor w_gate, w_up;              // [I, D]
  Tensor w_down;                    // [D, I]
};

struct LlamaWeights {
  Tensor token_embd;                // [V, D]
  std::vector<LlamaLayerWeights> layers;
  Tensor output_norm;               // [D]
  Tensor output;                    // [V, D]; the token embedding when tied
};

enum class WeightNaming { GGUF, HuggingFace };

// The file's name of one tensor, e.g. ("attn_q.weight", 3) -> "blk.3.attn_q.weight" (GGUF)
// or "model.layers.3.self_attn.q_proj.weight" (Hugging Face). Names use GGUF's vocabulary.
std::string weight_name(WeightNaming naming, const std::string& gguf_suffix, int layer);
std::string global_weight_name(WeightNaming naming, const std::string& gguf_name);

// Looks up a tensor by its file name; nullopt when absent.
using TensorLookup = std::function<std::optional<Tensor>(const std::string&)>;

// Gathers and checks every tensor. Norm weights and biases are converted to F32 (they are
// tiny and the kernels take them as F32); matrices stay as stored (zero-copy).
LlamaWeights load_llama_weights(const ModelConfig& config, WeightNaming naming, const TensorLookup& lookup);

}  // namespace strata
