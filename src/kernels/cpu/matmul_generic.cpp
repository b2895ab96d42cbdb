// Plain C++ kernels: the fallback for CPUs without AVX2 and a second opinion in tests.
// Each weight row is dequantized once and dotted with every activation row.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/matmul_internal.h"
#include "kernels/cpu/quant.h"

namespace strata::cpu {

namespace {

float dot(const float* a, const float* b, int64_t k) {
  float sum = 0.0f;
  for (int64_t i = 0; i < k; ++i) sum += a[i] * b[i];
  return sum;
}

// The activation row as the quantized kernels see it: scale * q.
void dequantize_activation_row(const QuantizedRows& xq, int64_t row, int64_t k, float* out) {
  const int16_t* q = xq.q + row * k;
  const float* scale = xq.scale + row * xq.group_stride;
  for (int64_t i = 0; i < k; ++i) out[i] = scale[i / kActGroup] * static_cast<float>(q[i]);
}

}  // namespace

void quantize_activation_row_generic(const float* x, int64_t k, int levels, int16_t* q, float* scale, float* sum) {
  for (int64_t g = 0; g < k / kActGroup; ++g) {
    const float* xs = x + g * kActGroup;
    float amax = 0.0f, total = 0.0f;
    for (int64_t i = 0; i < kActGroup; ++i) {
      amax = std::max(amax, std::fabs(xs[i]));
      total += xs[i];
    }
    const float d = amax / static_cast<float>(levels), id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int64_t i = 0; i < kActGroup; ++i) q[g * kActGroup + i] = static_cast<int16_t>(std::nearbyint(xs[i] * id));
    scale[g] = d;
    sum[g] = total;
  }
}

void matmul_columns_generic(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  const bool quantized = p.xf == nullptr;
  std::vector<float> w_row(static_cast<size_t>(p.k));
  std::vector<float> x_rows;
  if (quantized) {
    x_rows.resize(static_cast<size_t>(p.m * p.k));
    for (int64_t r = 0; r < p.m; ++r) dequantize_activation_row(p.xq, r, p.k, x_rows.data() + r * p.k);
  }
  const float* x = quantized ? x_rows.data() : p.xf;
  const int64_t x_stride = quantized ? p.k : p.xf_stride;
  for (int64_t n = n_begin; n < n_end; ++n) {
    dequantize_row(p.wtype, p.w + n * p.w_row_bytes, w_row.data(), p.k);
    for (int64_t r = 0; r < p.m; ++r) store_output(p, p.y + r * p.y_stride + n, dot(x + r * x_stride, w_row.data(), p.k));
  }
}

}  // namespace strata::cpu
