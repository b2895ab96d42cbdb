#pragma once
// The inner loops of the CPU kernels that are worth vectorising (dot products and scaled
// accumulation against f32 or f16 rows, SiLU), as a table of function pointers chosen once
// at start-up from what the CPU supports: AVX-512, AVX2 + F16C + FMA, or plain C++.
#include <cstdint>

namespace strata::cpu {

struct VectorOps {
  const char* name;
  // sum_i a[i] * b[i]
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  float (*dot_f16)(const float* a, const uint16_t* b, int64_t n);
  // acc[i] = acc[i] * acc_scale + w * v[i]
  void (*scale_add_f32)(float* acc, float acc_scale, const float* v, float w, int64_t n);
  void (*scale_add_f16)(float* acc, float acc_scale, const uint16_t* v, float w, int64_t n);
  // Attention over a run of cache rows (row j at rows + j * row_stride elements):
  // scores[j] = sum_i q[i] * row_j[i], and acc[i] += sum_j w[j] * row_j[i].
  void (*dot_rows_f32)(const float* q, const float* rows, int64_t row_stride, int64_t count, int64_t n, float* scores);
  void (*dot_rows_f16)(const float* q, const uint16_t* rows, int64_t row_stride, int64_t count, int64_t n, float* scores);
  void (*accumulate_rows_f32)(float* acc, const float* rows, int64_t row_stride, const float* w, int64_t count, int64_t n);
  void (*accumulate_rows_f16)(float* acc, const uint16_t* rows, int64_t row_stride, const float* w, int64_t count,
                              int64_t n);
  // y[i] = silu(gate[i]) * up[i]; y may alias gate or up.
  void (*silu_mul)(float* y, const float* gate, const float* up, int64_t n);
  // x[i] = exp(x[i] - shift); returns the sum of the new x[i] (softmax numerators).
  float (*exp_shift_sum)(float* x, float shift, int64_t n);
  // dst[i] = f16(src[i]), rounded to nearest even.
  void (*f32_to_f16)(uint16_t* dst, const float* src, int64_t n);
  // dst[i] = f32(src[i]) (exact).
  void (*f16_to_f32)(float* dst, const uint16_t* src, int64_t n);
  // The first index of the largest of x[0, n) (n >= 1), as `if (x[i] > x[best]) best = i`
  // finds it: a NaN is never chosen unless it is x[0].
  int64_t (*argmax)(const float* x, int64_t n);
};

// The best table for this CPU (decided once, then cached).
const VectorOps& vector_ops();
// Individual tables, for tests; nullptr where the CPU lacks the instructions.
const VectorOps& vector_ops_generic();
const VectorOps* vector_ops_avx2();
const VectorOps* vector_ops_avx512();

}  // namespace strata::cpu
