#pragma once
// Internal interface between the matmul dispatcher (matmul.cpp) and its ISA-specific
// kernels (matmul_generic.cpp, matmul_avx2.cpp). Plain declarations only: no inline ISA
// code may live here, since generic translation units include it too.
#include <cstdint>

#include "core/dtype.h"
#include "core/tensor.h"
#include "kernels/backend.h"

namespace strata {
class ThreadPool;
}

namespace strata::cpu {

constexpr int64_t kActGroup = 32;  // activation quantization group (elements)

// int16 activations: x ~ scale * q with |q| <= levels. 32767 except for Q6_K, whose int16
// weight values reach 4096 in magnitude: 32 * 4096 * 16383 is the largest group dot
// that still fits int32 (the kernels sum a whole group exactly in int32).
constexpr int activation_levels(DType weights) { return weights == DType::Q6_K ? 16383 : 32767; }

// Rounds a group count up to whole 8-lane vectors (the per-group arrays are padded with
// zeros to that length, so kernels can read them 8 at a time without a tail).
constexpr int64_t padded_groups(int64_t groups) { return (groups + 7) / 8 * 8; }

// The activation rows quantized to int16 in groups of 32, for block-quantized weights:
// x[r][k] ~ scale[r][k / 32] * q[r][k] with scale = max|x| / levels over the group, so the
// relative error stays near 1e-5 (int8 groups lost enough to flip the model's top token).
// `sum` is the exact f32 sum of each group, dotted with the additive offsets of the formats
// that have one (Q4_1, Q5_1, Q4_K, Q5_K).
struct QuantizedRows {
  const int16_t* q = nullptr;     // rows x k, dense
  const float* scale = nullptr;   // rows x group_stride, zero padded
  const float* sum = nullptr;     // rows x group_stride, zero padded
  int64_t groups = 0;             // k / 32
  int64_t group_stride = 0;       // padded_groups(groups)
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
// Within a family, the arithmetic of one output element depends only on its activation
// row and weight row: never on m, on the column range or on the thread count (decode in
// a batch must give the same tokens as decode alone).
enum class MatmulIsa : uint8_t { Generic, Avx2 };

void matmul_columns_generic(const MatmulProblem& p, int64_t n_begin, int64_t n_end);
void matmul_columns_avx2(const MatmulProblem& p, int64_t n_begin, int64_t n_end);
// The F32 / F16 / BF16 weight part of the AVX2 family (matmul_float_avx2.cpp).
void matmul_float_columns_avx2(const MatmulProblem& p, int64_t n_begin, int64_t n_end);
// The block-quantized part for m >= kPanelMinRows (matmul_panel_avx2.cpp): a transposed
// panel of weight rows pays off for prompts; a batch of 16 decodes ran 8% faster on the
// untransposed groups of matmul_avx2.cpp (`strata bench offline --max-num-seqs 16`, and
// even at 32 rows the two were within noise).
constexpr int64_t kPanelMinRows = 32;
void matmul_panel_columns_avx2(const MatmulProblem& p, int64_t n_begin, int64_t n_end);

// Quantizes one activation row of k elements (k a multiple of 32) to |q| <= levels into q,
// scale and sum (groups entries each; the caller zero-fills the padding). Both round half
// to even (the group sums may differ in the last bit: summation order).
void quantize_activation_row_generic(const float* x, int64_t k, int levels, int16_t* q, float* scale, float* sum);
void quantize_activation_row_avx2(const float* x, int64_t k, int levels, int16_t* q, float* scale, float* sum);

// The best family this CPU supports.
MatmulIsa best_matmul_isa();

// matmul() with a chosen kernel family (tests compare the families with each other).
void matmul_with(MatmulIsa isa, ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& w);
void matmul_many_with(MatmulIsa isa, ThreadPool& pool, const Tensor& x, std::span<const MatmulTarget> targets);

}  // namespace strata::cpu
