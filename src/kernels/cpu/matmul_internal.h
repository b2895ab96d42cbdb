#pragma once
// Internal interface between the matmul dispatcher (matmul.cpp) and its ISA-specific
// kernels (matmul_generic.cpp, matmul_avx2.cpp). Plain declarations only: no inline ISA
// code may live here, since generic translation units include it too.
#include <cstdint>

#include "core/dtype.h"
#include "core/tensor.h"

namespace strata {
class ThreadPool;
}

namespace strata::cpu {

constexpr int64_t kActGroup = 32;  // activation quantization group (elements)

// The activation rows quantized to int8 in groups of 32, for quantized weights:
// x[r][k] ~ scale * q[r][k], where each group has the pair {scale, sum}: sum is the exact
// f32 sum of the group (used for the weight formats with an additive offset, whose offset
// term is computed in f32 against the unquantized activations). Keeping the two together
// lets a kernel fetch both with one load.
struct QuantizedRows {
  const int8_t* q = nullptr;         // rows x k, dense
  const float* scale_sum = nullptr;  // rows x groups x {scale, sum}
  int64_t groups = 0;                // k / 32
};

// One call's operands. For float weights (F32/F16/BF16) `xf` holds the activation rows
// copied densely with row stride `xf_stride` (a multiple of 8, zero padded past k); for
// quantized weights `xq` holds them quantized.
struct MatmulProblem {
  int64_t m = 0, n = 0, k = 0;
  DType wtype = DType::F32;
  const uint8_t* w = nullptr;
  int64_t w_row_bytes = 0;
  float* y = nullptr;
  int64_t y_stride = 0;
  const float* xf = nullptr;
  int64_t xf_stride = 0;
  QuantizedRows xq;
};

// Kernel families. Each computes y[:, n_begin:n_end] of the problem on the calling thread.
enum class MatmulIsa : uint8_t { Generic, Avx2 };

void matmul_columns_generic(const MatmulProblem& p, int64_t n_begin, int64_t n_end);
void matmul_columns_avx2(const MatmulProblem& p, int64_t n_begin, int64_t n_end);
// The F32 / F16 / BF16 weight part of the AVX2 family (matmul_float_avx2.cpp).
void matmul_float_columns_avx2(const MatmulProblem& p, int64_t n_begin, int64_t n_end);

// Quantizes one activation row of k elements (k a multiple of 32) into q and scale_sum.
// Both round half to even (the group sums may differ in the last bit: summation order).
void quantize_activation_row_generic(const float* x, int64_t k, int8_t* q, float* scale_sum);
void quantize_activation_row_avx2(const float* x, int64_t k, int8_t* q, float* scale_sum);

// The best family this CPU supports.
MatmulIsa best_matmul_isa();

// matmul() with a chosen kernel family (tests compare the families with each other).
void matmul_with(MatmulIsa isa, ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& w);

}  // namespace strata::cpu
