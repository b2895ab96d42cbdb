#pragma once
// The CPU backend: host memory, and the operations of kernels/cpu/ run on one thread pool.
// Not thread-safe: one engine thread drives it (the pool parallelises inside each op).
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/backend.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/rope.h"
#include "sampling/row_sampling.h"

namespace strata::cpu {

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options);

  Device device() const override { return Device::CPU; }
  std::string name() const override;
  ThreadPool& pool() { return pool_; }

  Tensor allocate(const Tensor::Shape& shape, DType dtype) override;
  Tensor upload(const Tensor& host) override;
  Tensor download(const Tensor& t) override;
  KVStorage allocate_kv(const KVCacheLayout& layout) override;
  BatchTensors upload_batch(const ForwardBatch& batch) override;
  size_t reserve_products(int64_t rows, std::span<const Tensor* const> weights) override;

  void matmul(Tensor& y, const Tensor& x, const Tensor& w) override;
  void matmul_many(const Tensor& x, std::span<const MatmulTarget> targets) override;
  void matmul_accumulate(Tensor& y, const Tensor& x, const Tensor& w) override;
  void add_bias(Tensor& y, const Tensor& bias) override;
  void rms_norm(Tensor& y, const Tensor& x, const Tensor& weight, float eps) override;
  void rope(Tensor& x, const BatchTensors& batch, const RopeConfig& cfg) override;
  void embedding(Tensor& y, const Tensor& table, const Tensor& ids) override;
  void silu_mul(Tensor& y, const Tensor& gate, const Tensor& up) override;
  void add(Tensor& y, const Tensor& a, const Tensor& b) override;
  void gather_rows(Tensor& y, const Tensor& x, const Tensor& rows) override;
  void argmax_rows(Tensor& ids, const Tensor& logits) override;
  // The host reference's sample_row, rows spread over the pool (the same tokens as the
  // engine's host sampling, one row after another): so the engine hands rows here.
  void sample_rows(Tensor& ids, Tensor& logits, const SamplingRows& sampling) override;
  bool prefers_sampling_rows() const override { return true; }

  void store_kv(KVStorage& kv, int layer, const Tensor& k, const Tensor& v, const BatchTensors& batch) override;
  void attention(Tensor& out, const Tensor& q, const KVStorage& kv, int layer, const BatchTensors& batch,
                 float scale) override;
  void copy_blocks(KVStorage& dst, const KVStorage& src,
                   std::span<const std::pair<int32_t, int32_t>> src_dst) override;

 private:
  RopeTable& rope_table(const RopeConfig& cfg);

  ThreadPool pool_;
  bool tile_weights_ = false;  // upload() reorders quantized weights for the AVX-512 kernels
  // One cos/sin table per distinct rope configuration (usually one; two for models that
  // alternate local and global layers).
  std::vector<std::unique_ptr<RopeTable>> rope_tables_;
  MatmulScratch matmul_scratch_;          // the products' prepared activations
  std::vector<float> attention_scratch_;  // partial softmax results of split contexts
  std::vector<SampleRowScratch> sampling_scratch_;  // a vocabulary's candidates per worker
};

}  // namespace strata::cpu
