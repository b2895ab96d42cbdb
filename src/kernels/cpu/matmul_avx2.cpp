// AVX2 kernels for block-quantized weights, small M (decode). Activations arrive quantized
// to int16 groups of 32 (matmul_internal.h); each 32-element weight group is unpacked to
// int16 (matmul_blocks_avx2.h) and multiplied on madd_epi16 (16 MACs per instruction).
//
// Eight weight rows are streamed together against one activation row. Each row's group
// products (8 int32 lanes) are reduced across lanes and transposed in one step, so that
// lane c of one vector holds row c's exact group dot; the f32 work per group (convert,
// scale, offset) then runs once for eight rows instead of once per row, which is what
// bounds decode once the weights stream from memory at full speed.
//
// Larger M unpacks a panel of weight rows once and reuses it (matmul_panel_avx2.cpp).
// Both compute the same exact int32 group dots and then the same f32 operations in the
// same order (add_group), so an output never depends on M or on the tiling.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/matmul_blocks_avx2.h"
#include "kernels/cpu/matmul_internal.h"

namespace strata::cpu {

namespace {

// Lane c of the result is the sum of the eight lanes of v[c] (exact: every partial sum
// is bounded by the group's dot). Unpack + add rather than hadd, which is several uops.
__m256i lane_sums(const __m256i v[kLanes]) {
  // Per 128-bit half: [a0+a2, b0+b2, a1+a3, b1+b3].
  const auto pairs = [](__m256i a, __m256i b) {
    return _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
  };
  // Per 128-bit half: [a, b, c, d], each the sum over that half.
  const auto quads = [](__m256i ab, __m256i cd) {
    return _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
  };
  const __m256i abcd = quads(pairs(v[0], v[1]), pairs(v[2], v[3]));
  const __m256i efgh = quads(pairs(v[4], v[5]), pairs(v[6], v[7]));
  // {abcd low half | efgh high half} + {abcd high half | efgh low half}.
  return _mm256_add_epi32(_mm256_blend_epi32(abcd, efgh, 0xF0), _mm256_permute2x128_si256(abcd, efgh, 0x21));
}

__m256i load16(const int16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// y[row, n .. n + cols) for cols <= 8; missing rows repeat the last one (lanes are
// independent, so the padding cannot change the real outputs). While one tile computes, the next tile's bytes (`ahead`, contiguous: rows follow each
// other) are prefetched a few lines per group, so that memory latency overlaps compute.
template <typename Block>
void stream_tile(const MatmulProblem& p, int64_t row, int64_t n, int cols, const uint8_t* ahead, int64_t ahead_bytes) {
  using F = Format<Block>;
  const int64_t blocks = p.k / (F::kGroups * kActGroup), stride = p.xq.group_stride;
  const int16_t* xq = p.xq.q + row * p.k;
  const float* x_scale = p.xq.scale + row * stride;
  const float* x_sum = p.xq.sum + row * stride;
  const Block* rows[kLanes];
  for (int c = 0; c < kLanes; ++c)
    rows[c] = reinterpret_cast<const Block*>(p.w + (n + std::min(c, cols - 1)) * p.w_row_bytes);
  const int64_t groups = blocks * F::kGroups;
  const int64_t lines_per_group = (ahead_bytes / 64 + groups - 1) / groups;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    for (int j = 0; j < F::kGroups; ++j) {
      const int64_t g = b * F::kGroups + j;
      for (int64_t l = g * lines_per_group; l < (g + 1) * lines_per_group; ++l)
        _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * l), _MM_HINT_T0);
      const __m256i x_lo = load16(xq + g * kActGroup), x_hi = load16(xq + g * kActGroup + 16);
      __m256i v[kLanes];
      for (int c = 0; c < kLanes; ++c) {
        __m256i lo, hi;
        F::values(rows[c][b], j, lo, hi);
        v[c] = _mm256_add_epi32(_mm256_madd_epi16(lo, x_lo), _mm256_madd_epi16(hi, x_hi));
      }
      __m256 w_scale, w_offset;
      F::scales(rows, b, j, w_scale, w_offset);
      acc = add_group<F::kOffset>(acc, lane_sums(v), w_scale, w_offset, x_scale + g, x_sum + g);
    }
  }
  store_lanes(p, p.y + row * p.y_stride + n, acc, cols);
}

template <typename Block>
void stream_columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  for (int64_t r = 0; r < p.m; ++r)
    for (int64_t n = n_begin; n < n_end; n += kLanes) {
      const int64_t next = std::min(n + kLanes, n_end);
      const int64_t ahead = (std::min(next + kLanes, n_end) - next) * p.w_row_bytes;
      stream_tile<Block>(p, r, n, static_cast<int>(std::min<int64_t>(kLanes, n_end - n)), p.w + next * p.w_row_bytes, ahead);
    }
}

// Fewer than kPanelMinRows activation rows (a batch of decodes): each group of the eight weight rows is
// unpacked once into a small buffer in L1 and every activation row then runs the decode
// arithmetic above on it (same exact int32 dots, same add_group), so an output equals the
// one that row gets alone. Unlike the panel (matmul_panel_avx2.cpp) this needs no
// transposed copy of the weights, whose cost a few rows cannot amortise.
constexpr int64_t kBatchRows = 16;  // activation rows whose accumulators stay on the stack

template <typename Block>
void batch_tile(const MatmulProblem& p, int64_t m0, int64_t rows_here, int64_t n, int cols, const uint8_t* ahead,
                int64_t ahead_bytes) {
  using F = Format<Block>;
  const int64_t blocks = p.k / (F::kGroups * kActGroup), stride = p.xq.group_stride;
  const Block* rows[kLanes];
  for (int c = 0; c < kLanes; ++c)
    rows[c] = reinterpret_cast<const Block*>(p.w + (n + std::min(c, cols - 1)) * p.w_row_bytes);
  const int64_t groups = blocks * F::kGroups;
  const int64_t lines_per_group = (ahead_bytes / 64 + groups - 1) / groups;
  __m256 acc[kBatchRows];
  for (int64_t r = 0; r < rows_here; ++r) acc[r] = _mm256_setzero_ps();
  alignas(32) int16_t unpacked[2 * kLanes][16];  // per weight row: elements 0..15, 16..31
  for (int64_t b = 0; b < blocks; ++b) {
    for (int j = 0; j < F::kGroups; ++j) {
      const int64_t g = b * F::kGroups + j;
      for (int64_t l = g * lines_per_group; l < (g + 1) * lines_per_group; ++l)
        _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * l), _MM_HINT_T0);
      for (int c = 0; c < kLanes; ++c) {
        __m256i lo, hi;
        F::values(rows[c][b], j, lo, hi);
        _mm256_store_si256(reinterpret_cast<__m256i*>(unpacked[2 * c]), lo);
        _mm256_store_si256(reinterpret_cast<__m256i*>(unpacked[2 * c + 1]), hi);
      }
      __m256 w_scale, w_offset;
      F::scales(rows, b, j, w_scale, w_offset);
      for (int64_t r = 0; r < rows_here; ++r) {
        const int64_t row = m0 + r;
        const int16_t* xq = p.xq.q + row * p.k + g * kActGroup;
        const __m256i x_lo = load16(xq), x_hi = load16(xq + 16);
        __m256i v[kLanes];
        for (int c = 0; c < kLanes; ++c)
          v[c] = _mm256_add_epi32(_mm256_madd_epi16(load16(unpacked[2 * c]), x_lo),
                                  _mm256_madd_epi16(load16(unpacked[2 * c + 1]), x_hi));
        acc[r] = add_group<F::kOffset>(acc[r], lane_sums(v), w_scale, w_offset, p.xq.scale + row * stride + g,
                                       p.xq.sum + row * stride + g);
      }
    }
  }
  for (int64_t r = 0; r < rows_here; ++r) store_lanes(p, p.y + (m0 + r) * p.y_stride + n, acc[r], cols);
}

template <typename Block>
void batch_columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  for (int64_t m0 = 0; m0 < p.m; m0 += kBatchRows)
    for (int64_t n = n_begin; n < n_end; n += kLanes) {
      const int64_t next = std::min(n + kLanes, n_end);
      const int64_t ahead = (std::min(next + kLanes, n_end) - next) * p.w_row_bytes;
      batch_tile<Block>(p, m0, std::min(kBatchRows, p.m - m0), n, static_cast<int>(std::min<int64_t>(kLanes, n_end - n)),
                        p.w + next * p.w_row_bytes, ahead);
    }
}

}  // namespace

void matmul_columns_avx2(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  if (p.xf != nullptr) return matmul_float_columns_avx2(p, n_begin, n_end);
  if (p.m >= kPanelMinRows) return matmul_panel_columns_avx2(p, n_begin, n_end);
  if (p.m > 1) {
    visit_block_type(p.wtype, [&](auto block) { batch_columns<decltype(block)>(p, n_begin, n_end); });
    return;
  }
  visit_block_type(p.wtype, [&](auto block) { stream_columns<decltype(block)>(p, n_begin, n_end); });
}

}  // namespace strata::cpu
