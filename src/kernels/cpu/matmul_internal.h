#pragma once
// Internal interface between the matmul dispatcher (matmul.cpp) and its ISA-specific
// kernels (matmul_generic.cpp, matmul_avx2.cpp). Plain declarations only: no inline ISA
// code may live here, since generic translation units include it too.
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "kernels/backend.h"
#include "kernels/cpu/matmul.h"

namespace strata {
class ThreadPool;
}

namespace strata::cpu {

constexpr int64_t kActGroup = 32;  // activation quantization group (elements)

// int16 activations: x ~ scale * q with |q| <= levels. 32639 = 127 * 256 + 127, so that
// q splits exactly into two signed bytes (q = 256 hi + lo) for the AVX-512 VNNI kernels,
// except for Q6_K, whose int16 weight values reach 4096 in magnitude: 32 * 4096 * 16383
// is the largest group dot that still fits int32 (the kernels sum a whole group exactly
// in int32).
constexpr int activation_levels(DType weights) { return weights == DType::Q6_K ? 16383 : 32639; }
constexpr int kInt8ActivationLevels = 127;  // MatmulScratch::int8: |q| <= 127

// Rounds a group count up to whole 8-lane vectors (the per-group arrays are padded with
// zeros to that length, so kernels can read them 8 at a time without a tail).
constexpr int64_t padded_groups(int64_t groups) { return (groups + 7) / 8 * 8; }

// The activation rows quantized to int16 in groups of 32, for block-quantized weights:
// x[r][k] ~ scale[r][k / 32] * q[r][k] with scale = max|x| / levels over the group, so the
// relative error stays near 1e-5 (int8 groups lost enough to flip the model's top token).
// `sum` is the exact f32 sum of each group, dotted with the additive offsets of the formats
// that have one (Q4_1, Q5_1, Q4_K, Q5_K).
//
// The AVX-512 family also gets q split into bytes, q = 256 hi + lo with lo = (int8) q (both
// signed), for vpdpbusd against unsigned weight bytes, and the exact integer sum of each
// group's q, which removes the weights' zero point (Q8_0's 128, Q4_0's 8, Q5_0's 16) from
// the integer dot.
struct QuantizedRows {
  const int16_t* q = nullptr;     // rows x k, dense
  const float* scale = nullptr;   // rows x group_stride, zero padded
  const float* sum = nullptr;     // rows x group_stride, zero padded
  const int8_t* hi = nullptr;     // rows x k (AVX-512 family only)
  const int8_t* lo = nullptr;     // rows x k (AVX-512 family only)
  const int32_t* q_sum = nullptr; // rows x group_stride (AVX-512 family only)
  int64_t groups = 0;             // k / 32
  int64_t group_stride = 0;       // padded_groups(groups)
  bool hi_zero = false;           // |q| <= 127 (int8 activations): hi is all zero, not read
};

// One call's operands. For float weights (F32/F16/BF16) `xf` holds the activation rows
// copied densely with row stride `xf_stride` (a multiple of 8, zero padded past k); for
// quantized weights `xq` holds them quantized.
struct MatmulProblem {
  int64_t m = 0, n = 0, k = 0;
  DType wtype = DType::F32;
  const uint8_t* w = nullptr;
  int64_t w_row_bytes = 0;
  bool tiled = false;  // w in the CPU backend's tile order (weight_tiles.h): AVX-512 family only
  bool accumulate = false;  // y += the product (matmul_accumulate) instead of y = it
  float* y = nullptr;
  int64_t y_stride = 0;
  const float* xf = nullptr;
  int64_t xf_stride = 0;
  QuantizedRows xq;
};

namespace {  // internal linkage: each kernel file keeps its own copy, built for its ISA
// Where a kernel writes one output: y = v, or y + v (the same f32 add as a separate add()).
inline void store_output(const MatmulProblem& p, float* y, float v) { *y = p.accumulate ? *y + v : v; }
}  // namespace

// Kernel families. Each computes y[:, n_begin:n_end] of the problem on the calling thread.
// Within a family, the arithmetic of one output element depends only on its activation
// row and weight row: never on m, on the column range or on the thread count (decode in
// a batch must give the same tokens as decode alone).
//
// The AVX-512 family (VNNI) computes the same exact int32 group dots as the AVX2 family and
// the same f32 update per group, so for block-quantized weights its outputs are bit for bit
// those of the AVX2 family (a test checks it); K-quants run the AVX2 kernels.
enum class MatmulIsa : uint8_t { Generic, Avx2, Avx512 };

void matmul_columns_generic(const MatmulProblem& p, int64_t n_begin, int64_t n_end);
void matmul_columns_avx2(const MatmulProblem& p, int64_t n_begin, int64_t n_end);
void matmul_columns_avx512(const MatmulProblem& p, int64_t n_begin, int64_t n_end);
// The F32 / F16 / BF16 weight part of the AVX-512 family (matmul_float_avx512.cpp).
void matmul_float_columns_avx512(const MatmulProblem& p, int64_t n_begin, int64_t n_end);
// Output columns per tile of the AVX-512 quantized kernels (one 32-bit lane each).
constexpr int64_t kAvx512Tile = 16;
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

// Splits one quantized activation row (|q| <= 32639) into hi / lo bytes and the group
// sums of q (matmul_act_avx512.cpp).
void split_activation_row_avx512(const int16_t* q, int64_t k, int8_t* hi, int8_t* lo, int32_t* q_sum);

// The best family this CPU supports, and every family it supports (best first).
MatmulIsa best_matmul_isa();
std::vector<MatmulIsa> supported_matmul_isas();
const char* matmul_isa_name(MatmulIsa isa);

// matmul() with a chosen kernel family (tests compare the families with each other); without
// a scratch, one of their own.
void matmul_with(MatmulIsa isa, ThreadPool& pool, MatmulScratch& scratch, Tensor& y, const Tensor& x,
                 const Tensor& w);
void matmul_with(MatmulIsa isa, ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& w);
void matmul_many_with(MatmulIsa isa, ThreadPool& pool, const Tensor& x, std::span<const MatmulTarget> targets);
// The same with each y += its product when `accumulate` (matmul_accumulate).
void matmul_targets(MatmulIsa isa, ThreadPool& pool, MatmulScratch& scratch, const Tensor& x,
                    std::span<const MatmulTarget> targets, bool accumulate);

}  // namespace strata::cpu
