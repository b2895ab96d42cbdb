// AVX2 kernels for block-quantized weights, larger M (prompt processing). Eight weight
// rows are unpacked once into a panel and reused by every activation row.
//
// The panel stores, per 32-element group, 16 vectors: vector p holds elements 2p and
// 2p + 1 of all eight rows as int16 pairs, one row per 32-bit lane. madd_epi16 against
// the activation pair (2p, 2p + 1) broadcast to every lane then adds to each row's own
// lane, so after 16 steps lane c holds row c's exact group dot with no reduction across
// lanes; several activation rows share each panel load.
//
// The group dots are the same exact int32 values as in the decode path (matmul_avx2.cpp),
// followed by the same f32 update (add_group), so outputs do not depend on M.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "core/aligned_vector.h"
#include "kernels/cpu/matmul_blocks_avx2.h"
#include "kernels/cpu/matmul_internal.h"

namespace strata::cpu {

namespace {

constexpr int kPairs = kActGroup / 2;  // int16 pairs per group
constexpr int kTileRows = 6;           // activation rows per tile (register budget)

struct Panel {
  AlignedVector<int16_t> q;     // groups x kPairs x 16: one vector per pair
  AlignedVector<float> scale;   // groups x kLanes
  AlignedVector<float> offset;  // groups x kLanes

  void resize(int64_t groups) {
    q.resize(static_cast<size_t>(groups * kPairs * 16));
    scale.resize(static_cast<size_t>(groups * kLanes));
    offset.resize(static_cast<size_t>(groups * kLanes));
  }
};

// Transposes an 8 x 8 matrix of int32 (rows r[0..7]) in place.
void transpose8(__m256i r[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);      // [a0 b0 a1 b1 | a4 b4 a5 b5]
    t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);  // [a2 b2 a3 b3 | a6 b6 a7 b7]
  }
  for (int i = 0; i < 8; i += 4)
    for (int h = 0; h < 2; ++h) {
      u[i + 2 * h] = _mm256_unpacklo_epi64(t[i + h], t[i + 2 + h]);      // columns 2h   | 2h + 4
      u[i + 2 * h + 1] = _mm256_unpackhi_epi64(t[i + h], t[i + 2 + h]);  // columns 2h+1 | 2h + 5
    }
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2x128_si256(u[c], u[c + 4], 0x20);
    r[c + 4] = _mm256_permute2x128_si256(u[c], u[c + 4], 0x31);
  }
}

// Unpacks weight rows n .. n + cols (cols <= 8; missing rows repeat the last one).
template <typename Block>
void pack_panel(const MatmulProblem& p, int64_t n, int cols, Panel& panel) {
  using F = Format<Block>;
  const int64_t blocks = p.k / (F::kGroups * kActGroup);
  const Block* rows[kLanes];
  for (int c = 0; c < kLanes; ++c)
    rows[c] = reinterpret_cast<const Block*>(p.w + (n + std::min(c, cols - 1)) * p.w_row_bytes);
  for (int64_t b = 0; b < blocks; ++b)
    for (int j = 0; j < F::kGroups; ++j) {
      const int64_t g = b * F::kGroups + j;
      __m256i lo[kLanes], hi[kLanes];
      for (int c = 0; c < kLanes; ++c) F::values(rows[c][b], j, lo[c], hi[c]);
      transpose8(lo);
      transpose8(hi);
      int16_t* q = panel.q.data() + g * kPairs * 16;
      for (int i = 0; i < kLanes; ++i) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 16 * i), lo[i]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 16 * (i + kLanes)), hi[i]);
      }
      __m256 scale, offset;
      F::scales(rows, b, j, scale, offset);
      _mm256_storeu_ps(panel.scale.data() + g * kLanes, scale);
      _mm256_storeu_ps(panel.offset.data() + g * kLanes, offset);
    }
}

__m256i broadcast_pair(const int16_t* x) { return _mm256_set1_epi32(static_cast<int>(load_u32(x))); }

// y[m .. m + R, n .. n + cols) from the panel. Pointers are hoisted into locals: the
// vector loads may alias anything, and GCC otherwise reloads them every group.
template <int R, bool kOffset>
void panel_tile(const MatmulProblem& p, const Panel& panel, int64_t m, int64_t n, int cols) {
  const int64_t groups = p.xq.groups, stride = p.xq.group_stride;
  const int16_t* x[R];
  const float* x_scale[R];
  const float* x_sum[R];
  for (int r = 0; r < R; ++r)
    x[r] = p.xq.q + (m + r) * p.k, x_scale[r] = p.xq.scale + (m + r) * stride, x_sum[r] = p.xq.sum + (m + r) * stride;
  const int16_t* wq = panel.q.data();
  const float* w_scale = panel.scale.data();
  const float* w_offset = panel.offset.data();
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    __m256i dot[R];
    for (int r = 0; r < R; ++r) dot[r] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int i = 0; i < kPairs; ++i) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + (g * kPairs + i) * 16));
      for (int r = 0; r < R; ++r)
        dot[r] = _mm256_add_epi32(dot[r], _mm256_madd_epi16(w, broadcast_pair(x[r] + g * kActGroup + 2 * i)));
    }
    const __m256 scale = _mm256_loadu_ps(w_scale + g * kLanes), offset = _mm256_loadu_ps(w_offset + g * kLanes);
    for (int r = 0; r < R; ++r) acc[r] = add_group<kOffset>(acc[r], dot[r], scale, offset, x_scale[r] + g, x_sum[r] + g);
  }
  for (int r = 0; r < R; ++r) store_lanes(p, p.y + (m + r) * p.y_stride + n, acc[r], cols);
}

// The instantiation for `rows` (<= R) activation rows.
template <int R, bool kOffset>
void panel_tile_rows(const MatmulProblem& p, const Panel& panel, int64_t m, int64_t n, int rows, int cols) {
  if constexpr (R > 1)
    if (rows < R) return panel_tile_rows<R - 1, kOffset>(p, panel, m, n, rows, cols);
  panel_tile<R, kOffset>(p, panel, m, n, cols);
}

template <typename Block>
void panel_columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  thread_local Panel panel;
  panel.resize(p.xq.groups);
  // Activation rows in chunks that stay in the L2 cache while the panels sweep over them.
  const int64_t chunk_rows = std::max<int64_t>(kTileRows, 256 * 1024 / (2 * p.k) / kTileRows * kTileRows);
  for (int64_t m0 = 0; m0 < p.m; m0 += chunk_rows) {
    const int64_t m1 = std::min(p.m, m0 + chunk_rows);
    for (int64_t n = n_begin; n < n_end; n += kLanes) {
      const int cols = static_cast<int>(std::min<int64_t>(kLanes, n_end - n));
      pack_panel<Block>(p, n, cols, panel);
      for (int64_t m = m0; m < m1; m += kTileRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kTileRows, m1 - m));
        panel_tile_rows<kTileRows, Format<Block>::kOffset>(p, panel, m, n, rows, cols);
      }
    }
  }
}

}  // namespace

void matmul_panel_columns_avx2(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  visit_block_type(p.wtype, [&](auto block) { panel_columns<decltype(block)>(p, n_begin, n_end); });
}

}  // namespace strata::cpu
