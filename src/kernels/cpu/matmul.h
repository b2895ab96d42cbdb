#pragma once
// Matrix multiplication on the CPU.
#include <span>

#include "core/tensor.h"
#include "kernels/backend.h"

namespace strata {
class ThreadPool;
}

namespace strata::cpu {

// y[M, N] = x[M, K] · w[N, K]ᵀ. x, y f32 (rows may be strided); w any dtype incl. quantized.
void matmul(ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& w);
// Several products of the same x as one parallel job, x prepared once; each output is
// the same as matmul() gives (weights whose activations are prepared differently, e.g.
// float next to quantized, run one after another).
void matmul_many(ThreadPool& pool, const Tensor& x, std::span<const MatmulTarget> targets);
// y += x · wᵀ: each output gets exactly the f32 add that matmul followed by add() gives.
void matmul_accumulate(ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& w);

}  // namespace strata::cpu
