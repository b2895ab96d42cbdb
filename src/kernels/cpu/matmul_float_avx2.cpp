// AVX2 kernels for F32 / F16 / BF16 weights: f32 FMA on converted weights. Small M
// streams weight rows (converted on the fly with F16C); larger M converts a panel of
// weight rows once into f32 and reuses it across all activation rows.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "core/aligned_vector.h"
#include "core/half.h"
#include "kernels/cpu/matmul_float_panels.h"
#include "kernels/cpu/matmul_internal.h"

namespace strata::cpu {

namespace {

template <DType T>
__m256 load8(const uint8_t* row, int64_t k) {
  if constexpr (T == DType::F32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + k));
    if constexpr (T == DType::F16) return _mm256_cvtph_ps(h);
    else return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <DType T>
float load1(const uint8_t* row, int64_t k) {
  if constexpr (T == DType::F32) return reinterpret_cast<const float*>(row)[k];
  const uint16_t h = reinterpret_cast<const uint16_t*>(row)[k];
  if constexpr (T == DType::F16) return fp16_to_fp32(h);
  return bf16_to_fp32(h);
}

float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- small M: C weight rows streamed together against one activation row -------------
// While these rows compute, the next rows' bytes (`ahead`, contiguous) are prefetched a
// line or two per step: without it decode waits on memory latency, not bandwidth.
template <DType T, int C>
void stream_rows(const MatmulProblem& p, int64_t row, int64_t n, const uint8_t* ahead, int64_t ahead_bytes) {
  const float* x = p.xf + row * p.xf_stride;
  const uint8_t* w[C];
  __m256 acc[C];
  for (int c = 0; c < C; ++c) w[c] = p.w + (n + c) * p.w_row_bytes, acc[c] = _mm256_setzero_ps();
  const int64_t k8 = p.k / 8 * 8;
  const int64_t steps = std::max<int64_t>(1, k8 / 8);
  const int64_t lines_per_step = (ahead_bytes / 64 + steps - 1) / steps;
  for (int64_t k = 0; k < k8; k += 8) {
    for (int64_t l = k / 8 * lines_per_step; l < (k / 8 + 1) * lines_per_step; ++l)
      _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * l), _MM_HINT_T0);
    const __m256 xv = _mm256_loadu_ps(x + k);
    for (int c = 0; c < C; ++c) acc[c] = _mm256_fmadd_ps(load8<T>(w[c], k), xv, acc[c]);
  }
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) {
    float sum = horizontal_sum(acc[c]);
    for (int64_t k = k8; k < p.k; ++k) sum += load1<T>(w[c], k) * x[k];
    store_output(p, p.y + row * p.y_stride + n + c, sum);
  }
}

template <DType T>
void stream_columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  constexpr int kRows = 4;
  const auto ahead = [&](int64_t next, int rows) {
    return (std::min(next + rows, n_end) - std::min(next, n_end)) * p.w_row_bytes;
  };
  for (int64_t r = 0; r < p.m; ++r) {
    int64_t n = n_begin;
    for (; n + kRows <= n_end; n += kRows)
      stream_rows<T, kRows>(p, r, n, p.w + (n + kRows) * p.w_row_bytes, ahead(n + kRows, kRows));
    for (; n < n_end; ++n) stream_rows<T, 1>(p, r, n, p.w + (n + 1) * p.w_row_bytes, ahead(n + 1, 1));
  }
}

// ---- larger M: f32 panels ---------------------------------------------------------------
// Panel rows have stride p.xf_stride (k rounded up to 8) and are zero padded, like the
// activation rows, so the tile loop needs no tail.
template <DType T>
void pack_panel(const MatmulProblem& p, int64_t n, int rows, AlignedVector<float>& panel) {
  for (int c = 0; c < rows; ++c) {
    const uint8_t* w = p.w + (n + c) * p.w_row_bytes;
    float* out = panel.data() + c * p.xf_stride;
    const int64_t k8 = p.k / 8 * 8;
    for (int64_t k = 0; k < k8; k += 8) _mm256_storeu_ps(out + k, load8<T>(w, k));
    for (int64_t k = k8; k < p.xf_stride; ++k) out[k] = k < p.k ? load1<T>(w, k) : 0.0f;
  }
}

template <int R, int C>
void panel_tile(const MatmulProblem& p, const float* panel, int64_t m, int64_t n) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  const int64_t stride = p.xf_stride;
  const float* x = p.xf + m * stride;
  for (int64_t k = 0; k < stride; k += 8) {
    __m256 w[C];
    for (int c = 0; c < C; ++c) w[c] = _mm256_loadu_ps(panel + c * stride + k);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + r * stride + k);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(xv, w[c], acc[r][c]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) store_output(p, p.y + (m + r) * p.y_stride + n + c, horizontal_sum(acc[r][c]));
}

// The panel driver's view of this file's kernels (matmul_float_panels.h).
struct Avx2Panels {
  static constexpr int kTileRows = 4, kTileCols = 3;
  template <DType T>
  static void pack(const MatmulProblem& p, int64_t n, int rows, AlignedVector<float>& panel) { pack_panel<T>(p, n, rows, panel); }
  template <int R, int C>
  static void tile(const MatmulProblem& p, const float* panel, int64_t m, int64_t n) { panel_tile<R, C>(p, panel, m, n); }
};

template <DType T>
void columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  if (p.m < Avx2Panels::kTileRows) stream_columns<T>(p, n_begin, n_end);
  else panel_columns<Avx2Panels, T>(p, n_begin, n_end);
}

}  // namespace

void matmul_float_columns_avx2(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  visit_float_dtype(p.wtype, [&](auto t) { columns<decltype(t)::value>(p, n_begin, n_end); });
}

}  // namespace strata::cpu
