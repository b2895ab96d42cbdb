#pragma once
// A causal language model: configuration read from the file's metadata, weights on a
// backend, and a forward pass over a ForwardBatch that fills logits for the wanted rows.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/forward_batch.h"

namespace strata {

struct ModelConfig {
  std::string architecture;  // "llama", "qwen2", "qwen3", "mistral", ...
  std::string name;
  int num_layers = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  int context_length = 0;
  float rms_norm_eps = 1e-5f;
  RopeConfig rope;
  bool qkv_bias = false;   // Qwen2
  bool qk_norm = false;    // Qwen3
  bool tied_embeddings = false;
};

// What a forward pass hands back of its logits rows (batch.num_logit_rows() of them).
struct StepLogits {
  // In: which rows the caller reads in full (empty: all of them). A row it does not read
  // needs only its token, which the backend finds where the logits are (on a GPU only ids
  // come back): the most likely one (greedy sampling with nothing that changes the logits),
  // or, when `sampling` is set, the one sampled by its row there (Backend::sample_rows).
  std::vector<uint8_t> full_rows;
  SamplingRows sampling;  // empty, or a row per logits row (those read in full: ignored)
  // Out: [rows, vocab] host f32 logits when any row is read in full (else undefined), and
  // one token per row, for the rows not read in full (the others: 0). An argmax is the
  // lowest index among equal values.
  Tensor logits;
  std::vector<int32_t> tokens;

  bool any_full() const;
  bool any_token_only() const;  // some row is not read in full
};

class CausalLM {
 public:
  virtual ~CausalLM() = default;
  virtual const ModelConfig& config() const = 0;
  virtual Backend& backend() = 0;
  // The KV layout this model needs for `num_blocks` blocks of `block_size` tokens.
  KVCacheLayout kv_layout(int num_blocks, int block_size, DType dtype = DType::F16) const;
  // Runs the batch; writes logits [batch.num_logit_rows(), vocab] (f32, host) into `logits`
  // (resized as needed).
  virtual void forward(const ForwardBatch& batch, KVStorage& kv, Tensor& logits) = 0;
  // Runs the batch for a decoding step (StepLogits). The default reads every row in full
  // on the host; models override it to keep greedy rows on the device.
  virtual void forward_step(const ForwardBatch& batch, KVStorage& kv, StepLogits& out);
  // Bytes of weights resident (for start-up reporting).
  virtual size_t weight_bytes() const = 0;
  // Allocates the step buffers for the largest step the engine will run (`max_tokens`
  // tokens, `max_logit_rows` rows of logits) now, so that memory does not grow with the
  // first large batch (the server's idle footprint is its footprint under load, as with
  // llama.cpp's compute buffers and vLLM's profiling run). Returns the bytes reserved.
  virtual size_t reserve_step_buffers(int64_t /*max_tokens*/, int64_t /*max_logit_rows*/) { return 0; }
};

struct LoadOptions {
  Device device = Device::CPU;  // where the weights live and the forward pass runs
  int num_threads = 0;          // CPU backend threads (0: all cores)
  bool cpu_int8_activations = false;  // CpuBackendOptions::int8_activations
  bool batch_invariant = false;  // BackendOptions::batch_invariant
  // Called with (bytes done, bytes total) while loading, for a progress indication.
  std::function<void(size_t, size_t)> progress;
};

// Loads a GGUF file or a Hugging Face safetensors directory onto the backend of options.device.
std::unique_ptr<CausalLM> load_model(const std::string& path, const LoadOptions& options);

}  // namespace strata
