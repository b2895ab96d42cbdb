#pragma once
// Matrix multiplication on the CPU.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/aligned_vector.h"
#include "core/tensor.h"
#include "kernels/backend.h"

namespace strata {
class ThreadPool;
}

namespace strata::cpu {

// The prepared activations of a product (x's rows copied for float weights, quantized and
// split into bytes for block weights), kept between calls so that decode never allocates.
// Its owner runs one product at a time (the CPU backend holds one for its engine thread).
struct MatmulScratch {
  AlignedVector<float> xf;
  AlignedVector<int16_t> q;
  AlignedVector<float> scale, sum;
  AlignedVector<int8_t> hi, lo;
  AlignedVector<int32_t> q_sum;
  // Block-quantized weights' activations as int8 groups (CpuBackendOptions::int8_activations)
  // rather than int16: every kernel family computes the same exact dots of them.
  bool int8 = false;

  // Room for x of `rows` rows and `k` columns against weights of type `weight`, made
  // resident now: a server's footprint under load is then its footprint at start, and a
  // long prompt's step does not leave megabytes behind in the heap.
  void reserve(int64_t rows, int64_t k, DType weight);
  size_t bytes() const;  // held now
};

// y[M, N] = x[M, K] · w[N, K]ᵀ. x, y f32 (rows may be strided); w any dtype incl. quantized.
void matmul(ThreadPool& pool, MatmulScratch& scratch, Tensor& y, const Tensor& x, const Tensor& w);
// Several products of the same x as one parallel job, x prepared once; each output is
// the same as matmul() gives (weights whose activations are prepared differently, e.g.
// float next to quantized, run one after another).
void matmul_many(ThreadPool& pool, MatmulScratch& scratch, const Tensor& x, std::span<const MatmulTarget> targets);
// y += x · wᵀ: each output gets exactly the f32 add that matmul followed by add() gives.
void matmul_accumulate(ThreadPool& pool, MatmulScratch& scratch, Tensor& y, const Tensor& x, const Tensor& w);

// The same with a scratch of their own (allocated each call): for tests and one-off products.
void matmul(ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& w);
void matmul_many(ThreadPool& pool, const Tensor& x, std::span<const MatmulTarget> targets);
void matmul_accumulate(ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& w);

}  // namespace strata::cpu
