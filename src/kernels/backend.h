#pragma once
// The backend interface: every operation the model runs, behind one dispatch table per
// device (a virtual class). Model code calls these and never asks which device it is on.
// Tensors passed in live on the backend's device; index arrays arrive as BatchTensors,
// uploaded once per forward pass.
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "sampling/row_sampling.h"

namespace strata {

class ThreadPool;

// How rotary embeddings are computed for one model.
struct RopeConfig {
  enum class Scaling : uint8_t { None, Linear, Llama3 };
  int head_dim = 0;
  int rotary_dim = 0;   // dimensions rotated (== head_dim for Llama-family)
  float theta = 10000.0f;
  // true: rotate the two halves of the head (GPT-NeoX / Hugging Face layout);
  // false: rotate adjacent pairs (original Llama / GGUF "llama" layout).
  bool neox = true;
  Scaling scaling = Scaling::None;
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_positions = 8192;
};

// Shape of the paged KV cache: per layer, K and V tensors of
// [num_blocks, block_size, num_kv_heads, head_dim].
struct KVCacheLayout {
  int num_layers = 0;
  int num_blocks = 0;
  int block_size = 16;
  int num_kv_heads = 0;
  int head_dim = 0;
  DType dtype = DType::F16;

  size_t bytes_per_block() const;  // all layers, K and V
  // Throws Error naming `op` unless every dimension is positive and the dtype is f16 or f32.
  void check(const char* op) const;
};

struct KVStorage {
  KVCacheLayout layout;
  std::vector<Tensor> k;  // one per layer
  std::vector<Tensor> v;
};

// Throws Error naming `op` unless `layer` exists in `kv` and its dtype is f16 or f32.
void check_kv_layer(const KVStorage& kv, int layer, const char* op);

// The index arrays of one forward pass, on the backend's device (I32 tensors). See
// model/forward_batch.h for their meaning.
struct BatchTensors {
  Tensor token_ids;      // [T]
  Tensor positions;      // [T]
  Tensor slot_mapping;   // [T] flat KV slot (block * block_size + offset) of each new token
  Tensor query_start;    // [S + 1] first row of each sequence in the flattened tokens
  Tensor context_lens;   // [S] tokens in the cache for each sequence after this step's writes
  Tensor block_tables;   // [S, max_blocks_per_seq], -1 padded
  Tensor logit_rows;     // [L] rows of the flattened tokens whose logits are wanted
  int num_tokens = 0;
  int num_seqs = 0;
  int max_blocks_per_seq = 0;
  int max_query_len = 0;
  int max_context_len = 0;
  // Host copies, for backends and policies that need them on the CPU.
  std::vector<int32_t> host_query_start;
  std::vector<int32_t> host_context_lens;
};

// One output of Backend::matmul_many: y = x · wᵀ.
struct MatmulTarget {
  Tensor* y;
  const Tensor* w;
};

// rms_norm(x) * weight as the input of the products that follow it (the q/k/v and gate/up
// inputs of a layer): `normed`, of x's shape, receives it unless the backend folds the
// norm into those products, which may leave it unwritten.
struct NormedInput {
  const Tensor& x;
  const Tensor& weight;
  float eps;
  Tensor& normed;
};

// The attention block's inputs of one layer: q, k and v ([T, H * D] rows) from one
// normalized input, and the same tensors seen as heads ([T, H, D]) for rope and the store.
struct QkvProducts {
  Tensor& q;
  Tensor& k;
  Tensor& v;
  const Tensor& wq;
  const Tensor& wk;
  const Tensor& wv;
  Tensor& q_heads;
  Tensor& k_heads;
  Tensor& v_heads;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;

  // Memory.
  virtual Tensor allocate(const Tensor::Shape& shape, DType dtype) = 0;
  virtual Tensor upload(const Tensor& host) = 0;  // CPU: the same tensor, no copy
  // Uploads weights that multiply the same input (q, k and v; gate and up). A backend may
  // stack them by rows in one allocation, each then a view of it, so that one product
  // computes all of them into adjacent output columns. Undefined tensors stay undefined.
  virtual void upload_stacked(std::span<Tensor* const> weights) {
    for (Tensor* w : weights)
      if (w->defined()) *w = upload(*w);
  }
  virtual Tensor download(const Tensor& t) = 0;   // to a host tensor
  virtual KVStorage allocate_kv(const KVCacheLayout& layout) = 0;
  virtual BatchTensors upload_batch(const class ForwardBatch& batch) = 0;
  // Makes room now for the backend's own working memory of products of up to `rows`
  // activation rows against each of `weights` (the CPU backend's prepared activations), so
  // that the largest step neither allocates nor leaves memory behind. Returns the bytes the
  // backend holds for products; 0 where it keeps none.
  virtual size_t reserve_products(int64_t /*rows*/, std::span<const Tensor* const> /*weights*/) { return 0; }

  // y[M, N] = x[M, K] · w[N, K]ᵀ. x, y f32 (rows may be strided); w any dtype incl. quantized.
  virtual void matmul(Tensor& y, const Tensor& x, const Tensor& w) = 0;
  // Several products of the same activations, y_i = x · w_iᵀ (q/k/v, gate/up). A backend
  // may prepare x once and run them as one parallel job (on a CPU, decode pays a pool
  // wake-up per job); each y_i must equal what matmul(y_i, x, w_i) gives.
  virtual void matmul_many(const Tensor& x, std::span<const MatmulTarget> targets) {
    for (const MatmulTarget& t : targets) matmul(*t.y, x, *t.w);
  }
  // matmul_many of a normalized input; each y_i equals what rms_norm then matmul give.
  virtual void norm_matmul_many(const NormedInput& in, std::span<const MatmulTarget> targets) {
    rms_norm(in.normed, in.x, in.weight, in.eps);
    matmul_many(in.normed, targets);
  }
  // y[M, N] += x[M, K] · w[N, K]ᵀ: a product added to the residual stream (the attention
  // output and MLP down projections), one step where a GPU would launch two.
  virtual void matmul_accumulate(Tensor& y, const Tensor& x, const Tensor& w) = 0;
  // y[M, N] += bias[N]
  virtual void add_bias(Tensor& y, const Tensor& bias) = 0;
  // Root-mean-square norm over the last dimension, times weight[D]. y may alias x.
  virtual void rms_norm(Tensor& y, const Tensor& x, const Tensor& weight, float eps) = 0;
  // In place on x[T, H, head_dim], positions from batch.positions.
  virtual void rope(Tensor& x, const BatchTensors& batch, const RopeConfig& cfg) = 0;
  // y[T, D] = table[ids[t], :] (table any dtype, dequantized to f32).
  virtual void embedding(Tensor& y, const Tensor& table, const Tensor& ids) = 0;
  // y = silu(gate) * up, elementwise (f32). y may alias gate.
  virtual void silu_mul(Tensor& y, const Tensor& gate, const Tensor& up) = 0;
  // gate = silu(x · w_gateᵀ) * (x · w_upᵀ), the first half of a SwiGLU MLP; `up` is
  // scratch of gate's shape, which a backend that fuses the two products may leave
  // unwritten. Each element equals what matmul_many and silu_mul give.
  virtual void matmul_swiglu(Tensor& gate, Tensor& up, const Tensor& x, const Tensor& w_gate, const Tensor& w_up) {
    const MatmulTarget targets[] = {{&gate, &w_gate}, {&up, &w_up}};
    matmul_many(x, targets);
    silu_mul(gate, gate, up);
  }
  // matmul_swiglu of a normalized input.
  virtual void norm_matmul_swiglu(const NormedInput& in, Tensor& gate, Tensor& up, const Tensor& w_gate,
                                  const Tensor& w_up) {
    rms_norm(in.normed, in.x, in.weight, in.eps);
    matmul_swiglu(gate, up, in.normed, w_gate, w_up);
  }
  // A SwiGLU MLP added to the residual stream: residual (in.x itself) += down(silu(x ·
  // w_gateᵀ) * (x · w_upᵀ)) with x = the normalized rows; gate and up are scratch, left in
  // any state. A GPU hands the activation to the down product in half precision, without
  // an f32 copy in between.
  virtual void norm_swiglu_mlp(const NormedInput& in, Tensor& residual, Tensor& gate, Tensor& up,
                               const Tensor& w_gate, const Tensor& w_up, const Tensor& w_down) {
    norm_matmul_swiglu(in, gate, up, w_gate, w_up);
    matmul_accumulate(residual, gate, w_down);
  }
  // y = a + b, elementwise (f32). y may alias a.
  virtual void add(Tensor& y, const Tensor& a, const Tensor& b) = 0;
  // y[L, D] = x[rows[l], :]
  virtual void gather_rows(Tensor& y, const Tensor& x, const Tensor& rows) = 0;
  // ids[l] (I32) = the index of the largest value of logits[l, :] (f32), the lowest index
  // among equal values, as greedy sampling chooses; a NaN is never chosen unless it is the
  // first value. Lets greedy decoding bring back a token id instead of a row of logits.
  virtual void argmax_rows(Tensor& ids, const Tensor& logits) = 0;

  // Writes k, v [T, num_kv_heads, head_dim] into the cache slots of batch.slot_mapping.
  virtual void store_kv(KVStorage& kv, int layer, const Tensor& k, const Tensor& v,
                        const BatchTensors& batch) = 0;
  // Rotary embeddings on q and k in place, then k and v into the cache: rope(q), rope(k)
  // and store_kv as one operation (a GPU launches one kernel for the three).
  virtual void rope_store_kv(Tensor& q, Tensor& k, const Tensor& v, KVStorage& kv, int layer,
                             const BatchTensors& batch, const RopeConfig& cfg) {
    rope(q, batch, cfg);
    rope(k, batch, cfg);
    store_kv(kv, layer, k, v, batch);
  }
  // norm_matmul_many of q, k and v, then rope_store_kv: a layer's attention inputs as one
  // operation (a GPU rotates and stores them in the products' epilogue, one launch for
  // the five). Models without q/k/v biases or q/k norms call it.
  virtual void norm_qkv_rope_store(const NormedInput& in, const QkvProducts& p, KVStorage& kv, int layer,
                                   const BatchTensors& batch, const RopeConfig& cfg) {
    const MatmulTarget targets[] = {{&p.q, &p.wq}, {&p.k, &p.wk}, {&p.v, &p.wv}};
    norm_matmul_many(in, targets);
    rope_store_kv(p.q_heads, p.k_heads, p.v_heads, kv, layer, batch, cfg);
  }
  // Causal attention of q[T, Hq, D] over each sequence's cached keys/values (which already
  // include this step's tokens); out[T, Hq * D]. Grouped-query: Hq is a multiple of Hkv.
  virtual void attention(Tensor& out, const Tensor& q, const KVStorage& kv, int layer,
                         const BatchTensors& batch, float scale) = 0;
  // A hint before attention: the product after it reads this weight. A backend whose
  // attention leaves memory idle (few tokens over short contexts) may bring its first bytes
  // nearer meanwhile; results never depend on it, and the default ignores it.
  virtual void prefetch_weights(const Tensor& next_weight) { (void)next_weight; }
  // Copies whole blocks src -> dst within one storage (copy-on-write) or across two
  // storages with the same layout (swap to and from host memory).
  virtual void copy_blocks(KVStorage& dst, const KVStorage& src,
                           std::span<const std::pair<int32_t, int32_t>> src_dst) = 0;

  // Sampling where the logits are: ids[r] = sample_row() of logits row r by sampling.rows[r]
  // (the processors modify the rows in place). The same tokens as that host reference, but
  // where rounding puts a draw within ~1e-12 of the mass of a boundary between two tokens.
  virtual void sample_rows(Tensor& ids, Tensor& logits, const SamplingRows& sampling);
  // Whether the engine should sample here rather than on the host: true where the logits
  // would otherwise cross a bus (a GPU sends back token ids only).
  virtual bool prefers_sampling_rows() const { return false; }

  // Waits for queued work (no-op on CPU).
  virtual void synchronize() {}

  // Whole-step replay (CUDA graphs; every call is a no-op on backends without it). A model
  // brackets all device work of a forward pass, after upload_batch, as
  //   if (!backend.replay_step(bt, kv)) { backend.begin_step(bt, kv); ...ops...; backend.end_step(); }
  // The backend decides which batch shapes it captures (decode steps) and replays them with
  // this step's index arrays and cache. The model must call drop_steps() whenever it
  // reallocates any tensor those ops use (captured launches hold raw addresses).
  virtual bool replay_step(const BatchTensors&, const KVStorage&) { return false; }
  virtual void begin_step(const BatchTensors&, const KVStorage&) {}
  virtual void end_step() {}
  virtual void drop_steps() {}
};

struct CpuBackendOptions {
  int num_threads = 0;  // 0: all cores
  // upload() reorders Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1 weight matrices into the tile order
  // of the AVX-512 kernels (kernels/cpu/weight_tiles.h) when this CPU runs them.
  bool tile_weights = true;
  // The activations of products with block-quantized weights: int16 groups of 32 (default:
  // ~1e-5 relative error, the top token of an f32 computation), or int8 groups as llama.cpp
  // rounds them (half the multiply-adds on AVX-512 VNNI; coarse enough to change near-tie
  // tokens: SmolLM2's golden top-1 agreement drops, bench/RESULTS.md).
  bool int8_activations = false;
};
std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options);

}  // namespace strata
