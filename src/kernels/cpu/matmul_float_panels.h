#pragma once
// The panel driver of the F32 / F16 / BF16 kernels, shared by each ISA's file
// (matmul_float_avx2.cpp, matmul_float_avx512.cpp): activation rows in chunks that stay in
// the L2 cache, kTileCols weight rows converted to f32 once per chunk (a panel), and
// kTileRows x kTileCols output tiles over it. Everything has internal linkage, so each
// kernel file instantiates it with its own ISA's code and none leaks into another.
//
// `Isa` provides kTileRows, kTileCols, pack<T>(p, n, rows, panel) and tile<R, C>(p, panel,
// m, n) (an R x C tile of outputs from a panel whose rows have stride p.xf_stride).
#include <algorithm>
#include <type_traits>

#include "core/aligned_vector.h"
#include "kernels/cpu/matmul_internal.h"

namespace strata::cpu {
namespace {

// The tile instantiation for `rows` x `cols` (at most R x C) outputs at an edge.
template <typename Isa, int R, int C>
void panel_tile_any(const MatmulProblem& p, const float* panel, int64_t m, int64_t n, int rows, int cols) {
  if constexpr (R > 1)
    if (rows < R) return panel_tile_any<Isa, R - 1, C>(p, panel, m, n, rows, cols);
  if constexpr (C > 1)
    if (cols < C) return panel_tile_any<Isa, R, C - 1>(p, panel, m, n, rows, cols);
  Isa::template tile<R, C>(p, panel, m, n);
}

template <typename Isa, DType T>
void panel_columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  constexpr int kRows = Isa::kTileRows, kCols = Isa::kTileCols;
  thread_local AlignedVector<float> panel;
  panel.resize(static_cast<size_t>(kCols * p.xf_stride));
  const int64_t chunk_rows = std::max<int64_t>(kRows, (256 * 1024 / (4 * p.xf_stride)) / kRows * kRows);
  for (int64_t m0 = 0; m0 < p.m; m0 += chunk_rows) {
    const int64_t m1 = std::min(p.m, m0 + chunk_rows);
    for (int64_t n = n_begin; n < n_end; n += kCols) {
      const int cols = static_cast<int>(std::min<int64_t>(kCols, n_end - n));
      Isa::template pack<T>(p, n, cols, panel);
      for (int64_t m = m0; m < m1; m += kRows)
        panel_tile_any<Isa, kRows, kCols>(p, panel.data(), m, n, static_cast<int>(std::min<int64_t>(kRows, m1 - m)),
                                          cols);
    }
  }
}

// Calls fn(std::integral_constant<DType, T>{}) for the float weight dtype t.
template <typename Fn>
void visit_float_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::F32: return fn(std::integral_constant<DType, DType::F32>{});
    case DType::F16: return fn(std::integral_constant<DType, DType::F16>{});
    case DType::BF16: return fn(std::integral_constant<DType, DType::BF16>{});
    default: return;  // the dispatcher only sends float dtypes here
  }
}

}  // namespace
}  // namespace strata::cpu
