// AVX2 kernels for block-quantized weights. Activations arrive quantized to int16 groups
// of 32 (matmul_internal.h); each 32-element weight group is unpacked to int16 values
// with one f32 scale and, for the formats with an additive term, one f32 offset:
//   w[i] = scale * q[i] + offset.
// The integer products run on madd_epi16 (16 MACs per instruction, exact in int32); each
// group's integer dot is scaled by scale_w * scale_x in f32; the offset term,
// offset * sum(x over the group), is dotted against the exact f32 group sums at the end.
// Small M (decode) streams weight rows and unpacks them in registers; larger M unpacks a
// panel of weight rows once and reuses it across every activation row. Both paths do the
// same f32 operations in the same order, so an output never depends on M.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul_internal.h"
#include "kernels/cpu/quant_blocks.h"

namespace strata::cpu {

namespace {

// One unpacked 32-element weight group: int16 values of elements 0..15 and 16..31.
struct Group {
  __m256i lo, hi;
  float scale, offset;
};

float half_to_float(uint16_t bits) { return _cvtsh_ss(bits); }

Group widen_unsigned(__m256i bytes, float scale, float offset) {
  return {_mm256_cvtepu8_epi16(_mm256_castsi256_si128(bytes)), _mm256_cvtepu8_epi16(_mm256_extracti128_si256(bytes, 1)),
          scale, offset};
}

// 16 bytes of packed nibbles -> elements 0..15 (low nibbles) and 16..31 (high nibbles).
// Zero-extending the bytes to words first leaves each nibble one mask or shift away.
void nibbles_to_int16(const uint8_t* qs, __m256i& lo, __m256i& hi) {
  const __m256i words = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  lo = _mm256_and_si256(words, _mm256_set1_epi16(0x0F));
  hi = _mm256_srli_epi16(words, 4);
}

// The block's leading f16 pair (d and m) as floats: one conversion for both.
void leading_pair(const void* block, float& first, float& second) {
  uint32_t bits;
  std::memcpy(&bits, block, 4);
  const __m128 pair = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
  first = _mm_cvtss_f32(pair), second = _mm_cvtss_f32(_mm_movehdup_ps(pair));
}

// Byte i of the result is 0x10 when bit i of qh is set.
__m256i fifth_bits(const uint8_t* qh_bytes) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(qh)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

// 16 bytes of nibbles with fifth bits -> 32 unsigned 5-bit values as bytes.
__m256i five_bit_values(const uint8_t* qs, const uint8_t* qh) {
  const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  const __m256i nibbles =
      _mm256_and_si256(_mm256_srlv_epi32(both, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(0x0F));
  return _mm256_or_si256(nibbles, fifth_bits(qh));
}

// Per format: groups per block, whether an offset term exists, and unpack(). Zero points
// (Q4_0, Q5_0) are subtracted in the integers, so those formats need no offset term.
template <typename Block> struct Format;

template <> struct Format<BlockQ8_0> {
  static constexpr int kGroups = 1;
  static constexpr bool kOffset = false;
  static void unpack(const BlockQ8_0& b, Group* g) {
    const __m128i* q = reinterpret_cast<const __m128i*>(b.qs);
    g[0] = {_mm256_cvtepi8_epi16(_mm_loadu_si128(q)), _mm256_cvtepi8_epi16(_mm_loadu_si128(q + 1)), half_to_float(b.d), 0.0f};
  }
};

template <> struct Format<BlockQ4_0> {
  static constexpr int kGroups = 1;
  static constexpr bool kOffset = false;
  static void unpack(const BlockQ4_0& b, Group* g) {
    const __m256i eight = _mm256_set1_epi16(8);
    nibbles_to_int16(b.qs, g[0].lo, g[0].hi);
    g[0].lo = _mm256_sub_epi16(g[0].lo, eight), g[0].hi = _mm256_sub_epi16(g[0].hi, eight);
    g[0].scale = half_to_float(b.d), g[0].offset = 0.0f;
  }
};

template <> struct Format<BlockQ4_1> {
  static constexpr int kGroups = 1;
  static constexpr bool kOffset = true;
  static void unpack(const BlockQ4_1& b, Group* g) {
    nibbles_to_int16(b.qs, g[0].lo, g[0].hi);
    leading_pair(&b, g[0].scale, g[0].offset);
  }
};

template <> struct Format<BlockQ5_0> {
  static constexpr int kGroups = 1;
  static constexpr bool kOffset = false;
  static void unpack(const BlockQ5_0& b, Group* g) {
    g[0] = widen_unsigned(five_bit_values(b.qs, b.qh), half_to_float(b.d), 0.0f);
    const __m256i sixteen = _mm256_set1_epi16(16);
    g[0].lo = _mm256_sub_epi16(g[0].lo, sixteen), g[0].hi = _mm256_sub_epi16(g[0].hi, sixteen);
  }
};

template <> struct Format<BlockQ5_1> {
  static constexpr int kGroups = 1;
  static constexpr bool kOffset = true;
  static void unpack(const BlockQ5_1& b, Group* g) {
    float d, m;
    leading_pair(&b, d, m);
    g[0] = widen_unsigned(five_bit_values(b.qs, b.qh), d, m);
  }
};

// Q4_K / Q5_K: sub-block j uses the low (even j) or high (odd j) nibbles of 32 bytes.
template <bool kFifthBit>
void unpack_k(uint16_t d_bits, uint16_t dmin_bits, const uint8_t* scales, const uint8_t* qh,
              const uint8_t* qs, Group* g) {
  const float d = half_to_float(d_bits), dmin = half_to_float(dmin_bits);
  const __m256i mask = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  __m256i high = kFifthBit ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh)) : __m256i{};
  for (int j = 0; j < 8; ++j) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * (j / 2)));
    __m256i q = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(v, 4) : v, mask);
    if constexpr (kFifthBit) {
      q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(high, one), 4));
      high = _mm256_srli_epi16(high, 1);
    }
    uint8_t sc, mn;
    unpack_k_scale(scales, j, sc, mn);
    g[j] = widen_unsigned(q, d * static_cast<float>(sc), -dmin * static_cast<float>(mn));
  }
}

template <> struct Format<BlockQ4_K> {
  static constexpr int kGroups = 8;
  static constexpr bool kOffset = true;
  static void unpack(const BlockQ4_K& b, Group* g) { unpack_k<false>(b.d, b.dmin, b.scales, nullptr, b.qs, g); }
};

template <> struct Format<BlockQ5_K> {
  static constexpr int kGroups = 8;
  static constexpr bool kOffset = true;
  static void unpack(const BlockQ5_K& b, Group* g) { unpack_k<true>(b.d, b.dmin, b.scales, b.qh, b.qs, g); }
};

// Q6_K: group j (32 elements) covers sub-blocks 2j and 2j + 1; their int8 scales are
// multiplied into the int16 values (|(q - 32) * scale| <= 4096), leaving one f32 scale d.
template <> struct Format<BlockQ6_K> {
  static constexpr int kGroups = 8;
  static constexpr bool kOffset = false;
  static void unpack(const BlockQ6_K& b, Group* g) {
    const float d = half_to_float(b.d);
    const __m256i mask = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), bias = _mm256_set1_epi8(32);
    for (int j = 0; j < 8; ++j) {
      const int h = j / 4, i = j % 4;
      const __m256i lv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32 * (i & 1)));
      const __m256i hv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
      const __m256i low = _mm256_and_si256(i < 2 ? lv : _mm256_srli_epi16(lv, 4), mask);
      const __m256i high = _mm256_and_si256(_mm256_srl_epi16(hv, _mm_cvtsi32_si128(2 * i)), three);
      const __m256i q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), bias);
      g[j].lo = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(q)), _mm256_set1_epi16(b.scales[2 * j]));
      g[j].hi = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)), _mm256_set1_epi16(b.scales[2 * j + 1]));
      g[j].scale = d, g[j].offset = 0.0f;
    }
  }
};

// ---- the arithmetic shared by both paths ----------------------------------------------

__m256i load16(const int16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// The integer dot of one weight group with one activation group, as 8 f32 lanes.
__m256 group_dot(__m256i w_lo, __m256i w_hi, __m256i x_lo, __m256i x_hi) {
  return _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(w_lo, x_lo), _mm256_madd_epi16(w_hi, x_hi)));
}

// acc += dot * (scale_w * scale_x): the one f32 update per group.
__m256 accumulate(__m256 acc, __m256 dot, __m256 w_scale, __m256 x_scale) {
  return _mm256_fmadd_ps(dot, _mm256_mul_ps(w_scale, x_scale), acc);
}

float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The output: the scaled dots plus, for offset formats, sum_g offset[g] * x_sum[g]
// (both arrays zero padded to whole vectors).
template <bool kOffset>
float finish(__m256 acc, const float* offsets, const float* x_sum, int64_t group_stride) {
  if constexpr (kOffset)
    for (int64_t g = 0; g < group_stride; g += 8)
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(offsets + g), _mm256_loadu_ps(x_sum + g), acc);
  return horizontal_sum(acc);
}

// ---- small M: C weight rows streamed together against one activation row -------------
template <typename Block, int C>
void stream_rows(const MatmulProblem& p, int64_t row, int64_t n, float* offsets) {
  using F = Format<Block>;
  const int64_t blocks = p.k / (F::kGroups * kActGroup), stride = p.xq.group_stride;
  const int16_t* xq = p.xq.q + row * p.k;
  const float* x_scale = p.xq.scale + row * stride;
  const Block* w[C];
  for (int c = 0; c < C; ++c) w[c] = reinterpret_cast<const Block*>(p.w + (n + c) * p.w_row_bytes);
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    Group g[C][F::kGroups];
    for (int c = 0; c < C; ++c) F::unpack(w[c][b], g[c]);
    for (int j = 0; j < F::kGroups; ++j) {
      const int64_t gi = b * F::kGroups + j;
      const __m256i x_lo = load16(xq + gi * kActGroup), x_hi = load16(xq + gi * kActGroup + 16);
      const __m256 xs = _mm256_broadcast_ss(x_scale + gi);
      for (int c = 0; c < C; ++c) {
        acc[c] = accumulate(acc[c], group_dot(g[c][j].lo, g[c][j].hi, x_lo, x_hi), _mm256_set1_ps(g[c][j].scale), xs);
        if constexpr (F::kOffset) offsets[c * stride + gi] = g[c][j].offset;
      }
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c)
    p.y[row * p.y_stride + n + c] = finish<F::kOffset>(acc[c], offsets + c * stride, p.xq.sum + row * stride, stride);
}

template <typename Block>
void stream_columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  constexpr int kRows = 4;
  thread_local std::vector<float> offsets;  // kRows x group_stride, padding stays zero
  offsets.assign(static_cast<size_t>(kRows * p.xq.group_stride), 0.0f);
  for (int64_t r = 0; r < p.m; ++r) {
    int64_t n = n_begin;
    for (; n + kRows <= n_end; n += kRows) stream_rows<Block, kRows>(p, r, n, offsets.data());
    for (; n < n_end; ++n) stream_rows<Block, 1>(p, r, n, offsets.data());
  }
}

// ---- larger M: a panel of unpacked weight rows reused by all activation rows ----------
struct Panel {
  int64_t k = 0, group_stride = 0;
  std::vector<int16_t> q;        // rows x k
  std::vector<float> scale;      // rows x group_stride
  std::vector<float> offset;     // rows x group_stride, zero padded

  void resize(int rows, int64_t k_, int64_t group_stride_) {
    k = k_, group_stride = group_stride_;
    q.resize(static_cast<size_t>(rows * k));
    scale.assign(static_cast<size_t>(rows * group_stride), 0.0f);
    offset.assign(static_cast<size_t>(rows * group_stride), 0.0f);
  }
};

template <typename Block>
void pack_panel(const MatmulProblem& p, int64_t n, int rows, Panel& panel) {
  using F = Format<Block>;
  const int64_t blocks = p.k / (F::kGroups * kActGroup);
  for (int c = 0; c < rows; ++c) {
    const Block* w = reinterpret_cast<const Block*>(p.w + (n + c) * p.w_row_bytes);
    for (int64_t b = 0; b < blocks; ++b) {
      Group g[F::kGroups];
      F::unpack(w[b], g);
      for (int j = 0; j < F::kGroups; ++j) {
        const int64_t gi = b * F::kGroups + j;
        int16_t* q = panel.q.data() + c * p.k + gi * kActGroup;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), g[j].lo);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 16), g[j].hi);
        panel.scale[static_cast<size_t>(c * panel.group_stride + gi)] = g[j].scale;
        panel.offset[static_cast<size_t>(c * panel.group_stride + gi)] = g[j].offset;
      }
    }
  }
}

// y[m .. m+R, n .. n+C] from panel rows 0..C. Every pointer is hoisted into a local:
// the integer loads may alias anything, and GCC otherwise reloads them on every group.
template <int R, int C, bool kOffset>
void panel_tile(const MatmulProblem& p, const Panel& panel, int64_t m, int64_t n) {
  const int64_t groups = p.xq.groups, stride = p.xq.group_stride;
  const int16_t* x[R];
  const float* xs[R];
  for (int r = 0; r < R; ++r) x[r] = p.xq.q + (m + r) * p.k, xs[r] = p.xq.scale + (m + r) * stride;
  const int16_t* wq[C];
  const float* ws[C];
  for (int c = 0; c < C; ++c) wq[c] = panel.q.data() + c * p.k, ws[c] = panel.scale.data() + c * stride;
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    __m256 x_scale[R];
    for (int r = 0; r < R; ++r) x_scale[r] = _mm256_broadcast_ss(xs[r] + g);
    for (int c = 0; c < C; ++c) {
      const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq[c] + g * kActGroup));
      const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq[c] + g * kActGroup + 16));
      const __m256 w_scale = _mm256_broadcast_ss(ws[c] + g);
      for (int r = 0; r < R; ++r)
        acc[r][c] = accumulate(acc[r][c], group_dot(lo, hi, load16(x[r] + g * kActGroup), load16(x[r] + g * kActGroup + 16)),
                               w_scale, x_scale[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c)
      p.y[(m + r) * p.y_stride + n + c] =
          finish<kOffset>(acc[r][c], panel.offset.data() + c * stride, p.xq.sum + (m + r) * stride, stride);
}

// Picks the instantiation for a partial tile (rows < R or cols < C at the edges).
template <int R, int C, bool kOffset>
void panel_tile_any(const MatmulProblem& p, const Panel& panel, int64_t m, int64_t n, int rows, int cols) {
  if constexpr (R > 1)
    if (rows < R) return panel_tile_any<R - 1, C, kOffset>(p, panel, m, n, rows, cols);
  if constexpr (C > 1)
    if (cols < C) return panel_tile_any<R, C - 1, kOffset>(p, panel, m, n, rows, cols);
  panel_tile<R, C, kOffset>(p, panel, m, n);
}

constexpr int kTileRows = 2, kTileCols = 6;

template <typename Block>
void panel_columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  using F = Format<Block>;
  thread_local Panel panel;
  panel.resize(kTileCols, p.k, p.xq.group_stride);
  // Activation rows in chunks that stay in the L2 cache while the panels sweep over them.
  const int64_t chunk_rows = std::max<int64_t>(kTileRows, (256 * 1024 / std::max<int64_t>(2 * p.k, 1)) / kTileRows * kTileRows);
  for (int64_t m0 = 0; m0 < p.m; m0 += chunk_rows) {
    const int64_t m1 = std::min(p.m, m0 + chunk_rows);
    for (int64_t n = n_begin; n < n_end; n += kTileCols) {
      const int cols = static_cast<int>(std::min<int64_t>(kTileCols, n_end - n));
      pack_panel<Block>(p, n, cols, panel);
      for (int64_t m = m0; m < m1; m += kTileRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kTileRows, m1 - m));
        panel_tile_any<kTileRows, kTileCols, F::kOffset>(p, panel, m, n, rows, cols);
      }
    }
  }
}

template <typename Block>
void columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  if (p.m < kTileRows) stream_columns<Block>(p, n_begin, n_end);
  else panel_columns<Block>(p, n_begin, n_end);
}

}  // namespace

void matmul_columns_avx2(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  switch (p.wtype) {
    case DType::Q8_0: return columns<BlockQ8_0>(p, n_begin, n_end);
    case DType::Q4_0: return columns<BlockQ4_0>(p, n_begin, n_end);
    case DType::Q4_1: return columns<BlockQ4_1>(p, n_begin, n_end);
    case DType::Q5_0: return columns<BlockQ5_0>(p, n_begin, n_end);
    case DType::Q5_1: return columns<BlockQ5_1>(p, n_begin, n_end);
    case DType::Q4_K: return columns<BlockQ4_K>(p, n_begin, n_end);
    case DType::Q5_K: return columns<BlockQ5_K>(p, n_begin, n_end);
    case DType::Q6_K: return columns<BlockQ6_K>(p, n_begin, n_end);
    default: return matmul_float_columns_avx2(p, n_begin, n_end);
  }
}

}  // namespace strata::cpu
