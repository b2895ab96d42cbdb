#pragma once
// The CUDA backend: device memory from a caching allocator, all work queued on one stream
// (so the host only waits where it reads results), cuBLAS for large matrix products and
// the kernels of this folder for the rest. Not thread-safe: one engine thread drives it.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device_allocator.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/step_profile.h"
#include "kernels/cuda/step_program.h"

namespace strata::cuda {

// A device buffer that grows on demand and is reused call after call (scratch space).
// Outgrown buffers stay allocated: a captured step may still name their addresses.
class ScratchBuffer {
 public:
  void* get(DeviceAllocator& allocator, size_t bytes);

 private:
  std::shared_ptr<Storage> storage_;
  std::vector<std::shared_ptr<Storage>> retired_;
};

// Integer tickets that kernels leave at zero when they are done with them (split-KV
// attention): zeroed on the stream when (re)allocated.
class ZeroedCounters {
 public:
  int* get(DeviceAllocator& allocator, size_t count, cudaStream_t stream);

 private:
  ScratchBuffer buffer_;
  const void* zeroed_ = nullptr;
};

// What a captured decode step depends on besides the values in its buffers.
struct StepShape {
  int seqs = 0, table_width = 0, logit_rows = 0;
  auto operator<=>(const StepShape&) const = default;
};

struct StepKey {
  StepShape shape;
  size_t kv_addresses = 0;  // hash of every layer's K and V address
  auto operator<=>(const StepKey&) const = default;
};

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(const CudaBackendOptions& options);
  ~CudaBackend() override;

  Device device() const override { return Device::CUDA; }
  std::string name() const override;

  Tensor allocate(const Tensor::Shape& shape, DType dtype) override;
  Tensor upload(const Tensor& host) override;
  Tensor download(const Tensor& t) override;
  KVStorage allocate_kv(const KVCacheLayout& layout) override;
  BatchTensors upload_batch(const ForwardBatch& batch) override;

  void matmul(Tensor& y, const Tensor& x, const Tensor& w) override;
  void matmul_many(const Tensor& x, std::span<const MatmulTarget> targets) override;
  void norm_matmul_many(const NormedInput& in, std::span<const MatmulTarget> targets) override;
  // F32/F16/BF16 weights of one input in one allocation (block-quantized ones are repacked
  // a tensor at a time, so they stay apart).
  void upload_stacked(std::span<Tensor* const> weights) override;
  void norm_qkv_rope_store(const NormedInput& in, const QkvProducts& p, KVStorage& kv, int layer,
                           const BatchTensors& batch, const RopeConfig& cfg) override;
  void matmul_accumulate(Tensor& y, const Tensor& x, const Tensor& w) override;
  void add_bias(Tensor& y, const Tensor& bias) override;
  void rms_norm(Tensor& y, const Tensor& x, const Tensor& weight, float eps) override;
  void rope(Tensor& x, const BatchTensors& batch, const RopeConfig& cfg) override;
  void embedding(Tensor& y, const Tensor& table, const Tensor& ids) override;
  void silu_mul(Tensor& y, const Tensor& gate, const Tensor& up) override;
  void matmul_swiglu(Tensor& gate, Tensor& up, const Tensor& x, const Tensor& w_gate, const Tensor& w_up) override;
  void norm_swiglu_mlp(const NormedInput& in, Tensor& residual, Tensor& gate, Tensor& up, const Tensor& w_gate,
                       const Tensor& w_up, const Tensor& w_down) override;
  void norm_matmul_swiglu(const NormedInput& in, Tensor& gate, Tensor& up, const Tensor& w_gate,
                          const Tensor& w_up) override;
  void add(Tensor& y, const Tensor& a, const Tensor& b) override;
  void gather_rows(Tensor& y, const Tensor& x, const Tensor& rows) override;
  void argmax_rows(Tensor& ids, const Tensor& logits) override;
  void sample_rows(Tensor& ids, Tensor& logits, const SamplingRows& sampling) override;
  // The engine's default on the GPU: tests/cuda/test_cuda_sample_rows.cpp passed on the H200
  // (2026-12-04), and 64 sampled 8B sequences ran at 5,474.6-5,543.9 tok/s sampled there
  // against 17.6 with the logits sampled on the host (bench/RESULTS.md).
  bool prefers_sampling_rows() const override { return true; }

  void store_kv(KVStorage& kv, int layer, const Tensor& k, const Tensor& v, const BatchTensors& batch) override;
  void rope_store_kv(Tensor& q, Tensor& k, const Tensor& v, KVStorage& kv, int layer, const BatchTensors& batch,
                     const RopeConfig& cfg) override;
  void attention(Tensor& out, const Tensor& q, const KVStorage& kv, int layer, const BatchTensors& batch,
                 float scale) override;
  // Batch-1 decode in the step program: the next product's leading row bytes asked of L2
  // by the attention kernel (cuda_weight_prefetch.cpp; STRATA_CUDA_ATTENTION_PREFETCH_MB=0 off).
  void prefetch_weights(const Tensor& next_weight) override;
  void copy_blocks(KVStorage& dst, const KVStorage& src,
                   std::span<const std::pair<int32_t, int32_t>> src_dst) override;

  void synchronize() override;

  bool replay_step(const BatchTensors& batch, const KVStorage& kv) override;
  void begin_step(const BatchTensors& batch, const KVStorage& kv) override;
  void end_step() override;
  void drop_steps() override;

  DeviceAllocator& allocator() { return *allocator_; }

 private:
  std::shared_ptr<Storage> device_storage(size_t bytes);
  const double* rope_frequencies(const RopeConfig& cfg);
  // The attention work items of a batch, built on its first layer and reused by the rest.
  const AttentionItem* attention_items(const BatchTensors& batch, int tokens_per_item, int& num_items);
  // y (+)= x · wᵀ for each target (accumulate: add to y).
  void run_products(const Tensor& x, std::span<const MatmulTarget> targets, bool accumulate);
  void run_products_in_row_groups(const Tensor& x, std::span<const MatmulTarget> targets, bool accumulate);
  // x as the f16/bf16 operand of tensor-core products (in activations_half_), converted once
  // for all the products of one input that read that type.
  struct HalfInput {
    DType type = DType::F32;  // F32: not converted yet
    const void* data = nullptr;
  };
  void matmul_tensor_cores(Tensor& y, const Tensor& x, const WeightRef& w, bool accumulate, HalfInput& xh);
  void matmul_tensor_cores(float* y, int64_t y_stride, const Tensor& x, const WeightRef& w, bool accumulate,
                           HalfInput& xh);
  // The tensor-core products y_i = x · w_iᵀ of one input, one GEMM for each run of weights
  // stacked in one allocation whose outputs are adjacent columns of the same rows.
  void tensor_core_products(const Tensor& x, std::span<const MatmulTarget> targets, std::span<const WeightRef> weights,
                            HalfInput& xh);
  // The operand type tensor-core products of this weight read (F32: plain SGEMM on x).
  static DType tensor_core_input(const WeightRef& w);
  // rms_norm(in) rounded to the operand type of these weights, for products that all take
  // the tensor cores; none when they do not (the caller normalizes, then multiplies).
  std::optional<HalfInput> normed_tensor_core_input(const NormedInput& in, std::span<const WeightRef> weights);
  // Whether a small product with this weight takes the integer GEMV on activations of `mode`.
  bool quantized_gemv_reads(CudaBackendOptions::QuantizedActivations mode, const WeightRef& w) const;
  // Whether a product with this weight takes the int8-activation GEMV (opt-in).
  bool takes_integer_gemv(const WeightRef& w) const;
  // Whether a small product of m rows with this weight reads split int16 activations (the
  // default for block-quantized weights), or f32 ones rounded to f16 on the tensor cores.
  bool takes_split_gemv(const WeightRef& w, int64_t m) const;
  bool takes_half_gemv(const WeightRef& w, int64_t m) const;
  // x (normalized first when norm.weight is set) as split int16 rows for weights of that
  // format, in activations_split_.
  SplitRows split_input(const Tensor& x, DType weights, const GemvNorm& norm);
  // What a GEMV launch over weights like `w` reads of x: its split rows (the norm applied
  // while quantizing) for the integer GEMV, or x with the norm folded into the launch.
  struct GemvInput {
    GemvNorm norm;
    std::optional<SplitRows> split;
    bool half = false;  // takes_half_gemv
    const SplitRows* split_rows() const { return split ? &*split : nullptr; }
  };
  GemvInput gemv_input(const Tensor& x, const WeightRef& w, const GemvNorm& norm);
  // The norm of `in` folded into one GEMV launch over these weights, if it fits; else none.
  std::optional<GemvNorm> folded_norm(const NormedInput& in, std::span<const WeightRef> weights) const;
  void swiglu(Tensor& gate, Tensor& up, const Tensor& x, const Tensor& w_gate, const Tensor& w_up,
              const NormedInput* norm);
  // x quantized to int8 blocks (in activations_q8_) for the integer GEMV.
  QuantizedRows quantize_input(const Tensor& x);
  // The decode items of a batch (one token per sequence), written beside its index arrays.
  void remember_decode_items(const BatchTensors& batch, std::shared_ptr<Storage> storage,
                             const AttentionItem* items);
  // The key of a step that may be captured, if this batch is a decode step.
  std::optional<StepKey> step_key(const BatchTensors& batch, const KVStorage& kv) const;
  void abandon_capture();
  // The step program (step_program.h, CudaBackendOptions::step_program): while a batch-1 decode
  // step runs, its products and attention are recorded (record_* returns false for
  // anything the program does not take, which the caller then launches as before).
  bool record_gemv(const GemvTarget* targets, int count, const Tensor& x, const GemvNorm& norm,
                   const GemvRope* rope = nullptr, const WeightRef* up = nullptr);
  // Whether a product of `rows` rows of w's dtype and length is large enough for the program.
  bool program_takes_rows(const WeightRef& w, int64_t rows) const;
  // Whether decode attention of q (split over blocks or not) runs on the tensor-core kernel.
  bool takes_tensor_core_decode(const KVLayer& cache, const Tensor& q, bool split) const;
  bool record_attention(Tensor& out, const Tensor& q, const KVLayer& cache, const BatchTensors& batch,
                        float scale);
  ProgramOp& next_program_op();
  void flush_program();
  // The stream for work queued by anything but the step program's recording: the
  // pending program goes out first, so the stream keeps the operations' order.
  cudaStream_t launch_stream() {
    flush_program();
    return stream_;
  }
  // cuBLAS's handle (bound to stream_), for the same reason.
  cublasHandle_t cublas_handle() {
    flush_program();
    return cublas_;
  }

  int device_ = 0;
  cudaDeviceProp props_{};
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::shared_ptr<DeviceAllocator> allocator_;
  ScratchBuffer activations_half_, weights_bf16_, attention_partials_, activations_q8_, activations_split_;
  ScratchBuffer swiglu_half_;  // the down product's half input (norm_swiglu_mlp)
  CudaBackendOptions::QuantizedActivations quantized_activations_ = CudaBackendOptions::QuantizedActivations::Int16;
  bool batch_invariant_ = false;  // CudaBackendOptions::batch_invariant
  bool flash_attention_ = true;  // prefill attention on the tensor cores (STRATA_CUDA_FLASH_ATTENTION=0: off)
  // Decode batches that fill the GPU without key splits on the tensor cores
  // (STRATA_CUDA_DECODE_ATTENTION=0: the SIMT kernel).
  bool decode_attention_ = true;
  // ...and decode of few sequences too, its keys split (CudaBackendOptions::split_decode_on_tensor_cores).
  bool split_decode_tc_ = true;
  // Weights of one input stacked in one allocation, one product for all of them on the
  // tensor cores (STRATA_CUDA_STACK_WEIGHTS=0: an allocation and a product each).
  bool stack_weights_ = true;
  // The SwiGLU writes the down product's half input (STRATA_CUDA_SWIGLU_HALF=0: silu_mul,
  // then the conversion of its f32 rows).
  bool swiglu_half_input_ = true;
  // The norm before tensor-core products reads each row once, in float4 vectors
  // (STRATA_CUDA_VECTOR_NORM=0: the scalar kernel).
  bool vector_norm_ = true;
  // One GEMV launch for the products of one input and the residual add in the product's
  // store (STRATA_CUDA_FUSE=0: a launch per product and a separate add, for A/B runs).
  bool fuse_products_ = true;
  // q and k rotated and k and v stored in the q/k/v GEMV's epilogue (STRATA_CUDA_ROPE_EPILOGUE=0:
  // the separate rope + store kernel).
  bool rope_epilogue_ = true;
  ScratchBuffer unfused_product_;
  // The split-KV attention's tickets (AttentionArgs::split_counters).
  ZeroedCounters attention_counters_;

  struct RopeFrequencies {
    RopeConfig cfg;
    std::shared_ptr<Storage> inv_freq;  // double[rotary_dim / 2]
  };
  std::vector<RopeFrequencies> rope_frequencies_;

  struct ItemsCache {
    std::shared_ptr<Storage> batch;  // held so that its address cannot be reused meanwhile
    int tokens_per_item = 0;
    int num_items = 0;
    std::shared_ptr<Storage> holder;  // owns `items` (its own buffer or the batch's)
    const AttentionItem* items = nullptr;
  } items_cache_;

  // CUDA graphs of decode steps. A shape is captured the second time it runs (the first
  // run, eager, settles scratch sizes and one-time uploads); its index arrays live in one
  // buffer per shape so that replays read this step's values at the captured addresses.
  bool graphs_enabled_ = true;
  std::map<StepKey, cudaGraphExec_t> graphs_;
  std::map<StepKey, int> eager_runs_;
  std::map<StepShape, std::shared_ptr<Storage>> step_buffers_;
  std::optional<StepKey> capturing_;
  std::shared_ptr<Storage> cublas_workspace_storage_;
  std::unique_ptr<StepProfile> step_profile_;  // STRATA_CUDA_STEP_PROFILE=1
  // The step program: blocks a launch (0: off), the operations not yet launched, whether
  // this step records, the largest shared memory of its operations, its counters and the
  // attention partials.
  int program_blocks_ = 0;
  std::unique_ptr<StepProgram> program_;
  bool recording_ = false;
  // The program records attention only where the tensor-core decode kernel cannot take it
  // (STRATA_CUDA_STEP_PROGRAM_ATTENTION=1: always, for A/B runs).
  bool program_attention_always_ = false;
  // Products of fewer weight bytes or shorter rows stay kernels
  // (CudaBackendOptions::step_program_min_product_bytes and _cols).
  size_t program_min_product_bytes_ = 0;
  int64_t program_min_product_cols_ = 0;
  size_t program_shared_ = 0;
  std::shared_ptr<Storage> program_counters_;
  ScratchBuffer program_partials_;
  // The next decode attention's WeightPrefetch (prefetch_weights).
  WeightPrefetch pending_prefetch_;
  std::shared_ptr<Storage> sampling_storage_;  // the last sample_rows' parameters and lists
};

}  // namespace strata::cuda
