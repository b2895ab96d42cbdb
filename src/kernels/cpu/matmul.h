#pragma once
// Matrix multiplication on the CPU (owned by the "matmul" helper; this declaration was
// written by cpu-backend so that the backend compiles before the implementation lands).
#include "core/tensor.h"

namespace strata {
class ThreadPool;
}

namespace strata::cpu {

// y[M, N] = x[M, K] · w[N, K]ᵀ. x, y f32 (rows may be strided); w any dtype incl. quantized.
void matmul(ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& w);

}  // namespace strata::cpu
