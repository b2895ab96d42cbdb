#pragma once
// The Llama-family forward pass (Llama 2/3, SmolLM2, Mistral, Qwen2, Qwen3), written only
// in Backend ops so that it runs unchanged on every device.
#include <memory>

#include "model/llama_weights.h"
#include "model/model.h"

namespace strata {

class LlamaModel : public CausalLM {
 public:
  // `keepalive` holds whatever the weight views point into (a file mapping).
  LlamaModel(ModelConfig config, LlamaWeights weights, std::unique_ptr<Backend> backend,
             std::shared_ptr<void> keepalive);

  const ModelConfig& config() const override { return config_; }
  Backend& backend() override { return *backend_; }
  void forward(const ForwardBatch& batch, KVStorage& kv, Tensor& logits) override;
  void forward_step(const ForwardBatch& batch, KVStorage& kv, StepLogits& out) override;
  size_t weight_bytes() const override { return weight_bytes_; }
  size_t reserve_step_buffers(int64_t max_tokens, int64_t max_logit_rows) override;

 private:
  // Activation buffers sized for the largest batch seen so far; each step uses row
  // slices of them, so steady-state decoding allocates nothing.
  struct Scratch {
    int64_t rows = 0;
    Tensor x, normed, qkv, attn, gate_up;
    Tensor q, k, v, gate, up;  // column views of qkv and gate_up
  };
  struct LogitScratch {
    int64_t rows = 0;
    Tensor hidden, logits, tokens;
  };
  void ensure_scratch(int64_t tokens, int64_t logit_rows);
  // Runs the batch; the logits of its num_logit_rows() rows are left in logit_scratch_.
  void run_pass(const ForwardBatch& batch, KVStorage& kv);
  // The first `rows` rows of the device logits, downloaded into a host tensor `logits`.
  void download_logits(int64_t rows, Tensor& logits);
  // Every device op of one forward pass (what a backend may capture and replay).
  void run_layers(int64_t tokens, int64_t logit_rows, const BatchTensors& bt, KVStorage& kv);
  void attention_block(int layer, int64_t tokens, const BatchTensors& bt, KVStorage& kv);
  void mlp_block(int layer, int64_t tokens);
  void add_bias_if_defined(Tensor& y, const Tensor& bias);

  ModelConfig config_;
  LlamaWeights weights_;
  std::unique_ptr<Backend> backend_;
  std::shared_ptr<void> keepalive_;
  size_t weight_bytes_ = 0;
  Scratch scratch_;
  LogitScratch logit_scratch_;
};

}  // namespace strata
