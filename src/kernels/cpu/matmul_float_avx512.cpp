// AVX-512 kernels for F32 / F16 / BF16 weights: f32 FMA on converted weights, 16 lanes.
//
// Every output is the same sum in every path: 16 lane partials, lane i accumulating
// k = i, i + 16, ... in order (weights converted exactly to f32; x rows zero padded to a
// multiple of 16, weights zero past k), then one fixed reduction of the 16 lanes. Small M
// streams weight rows from memory; larger M converts a panel of weight rows once into
// f32 and reuses it for a 6 x 4 tile of outputs (24 accumulators), so an output does not
// depend on M.
#include "kernels/cpu/avx512_intrinsics.h"

#include <algorithm>

#include "core/aligned_vector.h"
#include "kernels/cpu/matmul_float_panels.h"
#include "kernels/cpu/matmul_internal.h"

namespace strata::cpu {

namespace {

constexpr int64_t kLanes = 16;

// 16 weights from k (all in range) or the masked tail (zeros past the row's end).
template <DType T>
[[gnu::always_inline]] inline __m512 load16(const uint8_t* row, int64_t k, __mmask16 mask) {
  if constexpr (T == DType::F32) {
    return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(row) + k);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(row) + k);
    if constexpr (T == DType::F16) return _mm512_cvtph_ps(h);
    else return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

template <DType T>
[[gnu::always_inline]] inline __m512 load16(const uint8_t* row, int64_t k) {
  if constexpr (T == DType::F32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + k);
  } else {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const uint16_t*>(row) + k));
    if constexpr (T == DType::F16) return _mm512_cvtph_ps(h);
    else return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

// The one reduction of 16 lane partials that every path uses.
[[gnu::always_inline]] inline float lane_sum(__m512 v) { return _mm512_reduce_add_ps(v); }

__mmask16 tail_mask(int64_t k) { return static_cast<__mmask16>((1u << (k % kLanes)) - 1u); }

// ---- small M: C weight rows streamed against R activation rows ------------------------
// While these rows compute, the next rows' bytes (`ahead`, contiguous) are prefetched a
// line or two per step: without it decode waits on memory latency, not bandwidth.
template <DType T, int R, int C>
void stream_rows(const MatmulProblem& p, int64_t m, int64_t n, const uint8_t* ahead, int64_t ahead_bytes) {
  const uint8_t* w[C];
  __m512 acc[R][C];
  for (int c = 0; c < C; ++c) w[c] = p.w + (n + c) * p.w_row_bytes;
  for (auto& row : acc)
    for (auto& a : row) a = _mm512_setzero_ps();
  const float* x = p.xf + m * p.xf_stride;
  const int64_t whole = p.k / kLanes * kLanes;
  const int64_t steps = std::max<int64_t>(1, whole / kLanes);
  const int64_t lines_per_step = (ahead_bytes / 64 + steps - 1) / steps;
  for (int64_t k = 0; k < whole; k += kLanes) {
    for (int64_t l = k / kLanes * lines_per_step; l < (k / kLanes + 1) * lines_per_step; ++l)
      _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * l), _MM_HINT_T0);
    __m512 wv[C];
    for (int c = 0; c < C; ++c) wv[c] = load16<T>(w[c], k);
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_loadu_ps(x + r * p.xf_stride + k);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(wv[c], xv, acc[r][c]);
    }
  }
  if (whole < p.k) {
    const __mmask16 mask = tail_mask(p.k);
    __m512 wv[C];
    for (int c = 0; c < C; ++c) wv[c] = load16<T>(w[c], whole, mask);
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_loadu_ps(x + r * p.xf_stride + whole);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(wv[c], xv, acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) store_output(p, p.y + (m + r) * p.y_stride + n + c, lane_sum(acc[r][c]));
}

template <DType T, int R>
void stream_columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  constexpr int kRows = 4;
  const auto ahead = [&](int64_t next, int rows) {
    return (std::min(next + rows, n_end) - std::min(next, n_end)) * p.w_row_bytes;
  };
  // Prefetch the rows after next: the next ones are already on their way when a tile
  // starts (the large output matrix streamed at 33 vs 27 GB/s in bench_matmul).
  int64_t n = n_begin;
  for (; n + kRows <= n_end; n += kRows)
    stream_rows<T, R, kRows>(p, 0, n, p.w + (n + 2 * kRows) * p.w_row_bytes, ahead(n + 2 * kRows, kRows));
  for (; n < n_end; ++n) stream_rows<T, R, 1>(p, 0, n, p.w + (n + 1) * p.w_row_bytes, ahead(n + 1, 1));
}

// ---- larger M: f32 panels ---------------------------------------------------------------
// Panel rows have stride p.xf_stride (k rounded up to 16) and are zero padded, like the
// activation rows, so the tile loop needs no tail.
template <DType T>
void pack_panel(const MatmulProblem& p, int64_t n, int rows, AlignedVector<float>& panel) {
  const int64_t whole = p.k / kLanes * kLanes;
  for (int c = 0; c < rows; ++c) {
    const uint8_t* w = p.w + (n + c) * p.w_row_bytes;
    float* out = panel.data() + c * p.xf_stride;
    for (int64_t k = 0; k < whole; k += kLanes) _mm512_store_ps(out + k, load16<T>(w, k));
    if (whole < p.k) _mm512_store_ps(out + whole, load16<T>(w, whole, tail_mask(p.k)));
  }
}

template <int R, int C>
void panel_tile(const MatmulProblem& p, const float* panel, int64_t m, int64_t n) {
  __m512 acc[R][C];
  for (auto& row : acc)
    for (auto& a : row) a = _mm512_setzero_ps();
  const int64_t stride = p.xf_stride;
  const float* x = p.xf + m * stride;
  for (int64_t k = 0; k < stride; k += kLanes) {
    __m512 w[C];
    for (int c = 0; c < C; ++c) w[c] = _mm512_load_ps(panel + c * stride + k);
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_loadu_ps(x + r * stride + k);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(w[c], xv, acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) store_output(p, p.y + (m + r) * p.y_stride + n + c, lane_sum(acc[r][c]));
}

// The panel driver's view of this file's kernels (matmul_float_panels.h).
struct Avx512Panels {
  static constexpr int kTileRows = 6, kTileCols = 4;
  template <DType T>
  static void pack(const MatmulProblem& p, int64_t n, int rows, AlignedVector<float>& panel) { pack_panel<T>(p, n, rows, panel); }
  template <int R, int C>
  static void tile(const MatmulProblem& p, const float* panel, int64_t m, int64_t n) { panel_tile<R, C>(p, panel, m, n); }
};

// Up to 3 rows stream the weights once for all of them; from 4 rows a panel pays off.
template <DType T>
void columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  switch (p.m) {
    case 1: return stream_columns<T, 1>(p, n_begin, n_end);
    case 2: return stream_columns<T, 2>(p, n_begin, n_end);
    case 3: return stream_columns<T, 3>(p, n_begin, n_end);
    default: return panel_columns<Avx512Panels, T>(p, n_begin, n_end);
  }
}

}  // namespace

void matmul_float_columns_avx512(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  visit_float_dtype(p.wtype, [&](auto t) { columns<decltype(t)::value>(p, n_begin, n_end); });
}

}  // namespace strata::cpu
