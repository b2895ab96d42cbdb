// AVX2 kernels for block-quantized weights. Activations arrive quantized to int8 groups
// of 32 (matmul_internal.h); each 32-element weight group is unpacked to 8-bit integers
// with a per-lane f32 scale (and, for the formats with an additive term, an f32 offset):
//   w[i] = scale[lane(i)] * q[i] + offset,   lane(i) = i / 4.
// The integer products run on maddubs/madd (u8 x s8 -> s32 per 4 elements); the scales
// are applied per group in f32; the offset term, offset * sum(x over the group), is
// dotted against the exact f32 group sums of the activations at the end.
// Small M (decode) streams weight rows and unpacks them in registers; larger M unpacks a
// panel of weight rows once and reuses it across every activation row.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul_internal.h"
#include "kernels/cpu/quant_blocks.h"

namespace strata::cpu {

namespace {

// One 32-element weight group: w[i] = scale(i) * q[i] + offset, where
// params = {scale of elements 0..15, offset, scale of elements 16..31, 0}
// (the two scales differ only for Q6_K). The layout lets one multiply by an activation
// group's {scale, sum, scale, sum} give both the combined scale and the offset term.
struct Group {
  __m256i q;  // unsigned (0..63) for unsigned formats, signed for Q8_0 / Q6_K
  __m128 params;
};

// The block's leading f16 pair (d and m, or d and whatever follows) as {d, m, 0, 0}.
__m128 leading_halves(const void* block) {
  uint32_t bits;
  std::memcpy(&bits, block, 4);
  return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
}

// {d, zero_point * d, d, 0} for the formats whose offset is an integer zero point.
__m128 zero_point_params(uint16_t d_bits, float zero_point) {
  const __m128 d = _mm_cvtph_ps(_mm_cvtsi32_si128(d_bits));
  return _mm_mul_ps(_mm_broadcastss_ps(d), _mm_setr_ps(1.0f, zero_point, 1.0f, 0.0f));
}

// 16 bytes of packed nibbles -> 32 values, low nibbles first (elements 0..15).
__m256i low_and_high_nibbles(const uint8_t* qs) {
  const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  return _mm256_and_si256(_mm256_srlv_epi32(both, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(0x0F));
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

// Per format: groups per block, signedness, whether an offset term or a second scale
// exists, and unpack().
template <typename Block> struct Format;

template <> struct Format<BlockQ8_0> {
  static constexpr int kGroups = 1;
  static constexpr bool kSigned = true, kOffset = false, kTwoScales = false;
  static void unpack(const BlockQ8_0& b, Group* g) {
    g[0] = {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)), leading_halves(&b)};
  }
};

template <> struct Format<BlockQ4_0> {
  static constexpr int kGroups = 1;
  static constexpr bool kSigned = false, kOffset = true, kTwoScales = false;
  static void unpack(const BlockQ4_0& b, Group* g) { g[0] = {low_and_high_nibbles(b.qs), zero_point_params(b.d, -8.0f)}; }
};

template <> struct Format<BlockQ4_1> {
  static constexpr int kGroups = 1;
  static constexpr bool kSigned = false, kOffset = true, kTwoScales = false;
  static void unpack(const BlockQ4_1& b, Group* g) { g[0] = {low_and_high_nibbles(b.qs), leading_halves(&b)}; }
};

template <> struct Format<BlockQ5_0> {
  static constexpr int kGroups = 1;
  static constexpr bool kSigned = false, kOffset = true, kTwoScales = false;
  static void unpack(const BlockQ5_0& b, Group* g) {
    g[0] = {_mm256_or_si256(low_and_high_nibbles(b.qs), fifth_bits(b.qh)), zero_point_params(b.d, -16.0f)};
  }
};

template <> struct Format<BlockQ5_1> {
  static constexpr int kGroups = 1;
  static constexpr bool kSigned = false, kOffset = true, kTwoScales = false;
  static void unpack(const BlockQ5_1& b, Group* g) {
    g[0] = {_mm256_or_si256(low_and_high_nibbles(b.qs), fifth_bits(b.qh)), leading_halves(&b)};
  }
};

// Q4_K / Q5_K: sub-block j uses the low (even j) or high (odd j) nibbles of 32 bytes.
template <bool kFifthBit>
void unpack_k(uint16_t d_bits, uint16_t dmin_bits, const uint8_t* scales, const uint8_t* qh,
              const uint8_t* qs, Group* g) {
  const float d = _cvtsh_ss(d_bits), dmin = _cvtsh_ss(dmin_bits);
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
    const float scale = d * static_cast<float>(sc);
    g[j] = {q, _mm_setr_ps(scale, -dmin * static_cast<float>(mn), scale, 0.0f)};
  }
}

template <> struct Format<BlockQ4_K> {
  static constexpr int kGroups = 8;
  static constexpr bool kSigned = false, kOffset = true, kTwoScales = false;
  static void unpack(const BlockQ4_K& b, Group* g) { unpack_k<false>(b.d, b.dmin, b.scales, nullptr, b.qs, g); }
};

template <> struct Format<BlockQ5_K> {
  static constexpr int kGroups = 8;
  static constexpr bool kSigned = false, kOffset = true, kTwoScales = false;
  static void unpack(const BlockQ5_K& b, Group* g) { unpack_k<true>(b.d, b.dmin, b.scales, b.qh, b.qs, g); }
};

// Q6_K: group g (32 elements) covers sub-blocks 2g and 2g + 1, hence two scales.
template <> struct Format<BlockQ6_K> {
  static constexpr int kGroups = 8;
  static constexpr bool kSigned = true, kOffset = false, kTwoScales = true;
  static void unpack(const BlockQ6_K& b, Group* g) {
    const float d = _cvtsh_ss(b.d);
    const __m256i mask = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), bias = _mm256_set1_epi8(32);
    for (int j = 0; j < 8; ++j) {
      const int h = j / 4, i = j % 4;
      const __m256i lv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32 * (i & 1)));
      const __m256i hv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
      const __m256i low = _mm256_and_si256(i < 2 ? lv : _mm256_srli_epi16(lv, 4), mask);
      const __m256i high = _mm256_and_si256(_mm256_srl_epi16(hv, _mm_cvtsi32_si128(2 * i)), three);
      const __m256i q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), bias);
      g[j] = {q, _mm_setr_ps(d * b.scales[2 * j], 0.0f, d * b.scales[2 * j + 1], 0.0f)};
    }
  }
};

// The 8-lane scale vector from a params product: lanes 0..3 cover elements 0..15.
template <bool kTwoScales>
__m256 lane_scales(__m128 product) {
  if constexpr (kTwoScales) return _mm256_set_m128(_mm_permute_ps(product, 0xAA), _mm_permute_ps(product, 0x00));
  return _mm256_broadcastss_ps(product);
}

// An activation group's {scale, sum} pair, duplicated: {scale, sum, scale, sum}.
__m128 activation_pair(const float* scale_sum) {
  return _mm_castpd_ps(_mm_loaddup_pd(reinterpret_cast<const double*>(scale_sum)));
}

// Sum over each 4 elements of w * x as 8 int32 lanes. For signed weights |w| takes the
// unsigned operand and the sign moves onto x (|w| <= 128, |x| <= 127: no i16 overflow).
template <bool kSigned>
__m256 group_dot(__m256i w, __m256i w_abs, __m256i x) {
  const __m256i pairs = kSigned ? _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x, w)) : _mm256_maddubs_epi16(w, x);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__m256i load32(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
__m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// ---- small M: C weight rows streamed together against one activation row -------------
template <typename Block, int C>
void stream_rows(const MatmulProblem& p, int64_t row, int64_t n) {
  using F = Format<Block>;
  const int64_t blocks = p.k / (F::kGroups * kActGroup);
  const int8_t* xq = p.xq.q + row * p.k;
  const float* xss = p.xq.scale_sum + row * p.xq.groups * 2;
  const Block* w[C];
  for (int c = 0; c < C; ++c) w[c] = reinterpret_cast<const Block*>(p.w + (n + c) * p.w_row_bytes);
  __m256 acc[C];
  __m128 offset[C];  // lane 1 accumulates offset * sum
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps(), offset[c] = _mm_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    for (int c = 0; c < C; ++c) {
      Group g[F::kGroups];
      F::unpack(w[c][b], g);
      for (int j = 0; j < F::kGroups; ++j) {
        const int64_t gi = b * F::kGroups + j;
        const __m128 product = _mm_mul_ps(g[j].params, activation_pair(xss + 2 * gi));
        const __m256i wa = F::kSigned ? _mm256_sign_epi8(g[j].q, g[j].q) : g[j].q;
        const __m256 dot = group_dot<F::kSigned>(g[j].q, wa, load32(xq + gi * kActGroup));
        acc[c] = _mm256_fmadd_ps(dot, lane_scales<F::kTwoScales>(product), acc[c]);
        if constexpr (F::kOffset) offset[c] = _mm_add_ps(offset[c], product);
      }
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) {
    float v = horizontal_sum(acc[c]);
    if constexpr (F::kOffset) v += _mm_cvtss_f32(_mm_movehdup_ps(offset[c]));
    p.y[row * p.y_stride + n + c] = v;
  }
}

template <typename Block>
void stream_columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  constexpr int kRows = 4;
  for (int64_t r = 0; r < p.m; ++r) {
    int64_t n = n_begin;
    for (; n + kRows <= n_end; n += kRows) stream_rows<Block, kRows>(p, r, n);
    for (; n < n_end; ++n) stream_rows<Block, 1>(p, r, n);
  }
}

// ---- larger M: a panel of unpacked weight rows reused by all activation rows ----------
struct Panel {
  int64_t k = 0, groups = 0;
  int64_t pairs_stride = 0;         // 2 * groups rounded up to 8, zero padded
  std::vector<uint8_t> q;           // rows x k
  std::vector<float> scale;         // rows x groups x 8 lanes
  std::vector<float> offset_pairs;  // rows x groups x {0, offset}: dotted with {scale, sum}

  void resize(int rows, int64_t k_, int64_t groups_) {
    k = k_, groups = groups_;
    pairs_stride = (2 * groups + 7) / 8 * 8;
    q.resize(static_cast<size_t>(rows * k));
    scale.resize(static_cast<size_t>(rows * groups * 8));
    offset_pairs.assign(static_cast<size_t>(rows * pairs_stride), 0.0f);
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
        const int64_t gi = c * panel.groups + b * F::kGroups + j;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel.q.data() + gi * kActGroup), g[j].q);
        _mm256_storeu_ps(panel.scale.data() + gi * 8, lane_scales<F::kTwoScales>(g[j].params));
        const int64_t pair = c * panel.pairs_stride + 2 * (b * F::kGroups + j);
        panel.offset_pairs[static_cast<size_t>(pair + 1)] = _mm_cvtss_f32(_mm_movehdup_ps(g[j].params));
      }
    }
  }
}

// y[m .. m+R, n .. n+C] from panel rows 0..C. Every pointer is hoisted into a local:
// the byte loads may alias anything, and GCC otherwise reloads them (and spills the
// accumulators) on every group.
template <int R, int C, bool kSigned, bool kOffset>
void panel_tile(const MatmulProblem& p, const Panel& panel, int64_t m, int64_t n) {
  const int64_t groups = panel.groups;
  const int8_t* x[R];
  const float* xss[R];
  for (int r = 0; r < R; ++r) x[r] = p.xq.q + (m + r) * p.k, xss[r] = p.xq.scale_sum + (m + r) * groups * 2;
  const uint8_t* wq[C];
  const float* ws[C];
  for (int c = 0; c < C; ++c) wq[c] = panel.q.data() + c * groups * kActGroup, ws[c] = panel.scale.data() + c * groups * 8;
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    __m256i xv[R];
    __m256 xs[R];
    for (int r = 0; r < R; ++r) xv[r] = load32(x[r] + g * kActGroup), xs[r] = _mm256_broadcast_ss(xss[r] + 2 * g);
    for (int c = 0; c < C; ++c) {
      const __m256i w = load32(wq[c] + g * kActGroup);
      const __m256i wa = kSigned ? _mm256_sign_epi8(w, w) : w;
      const __m256 wsv = _mm256_loadu_ps(ws[c] + g * 8);
      for (int r = 0; r < R; ++r)
        acc[r][c] = _mm256_fmadd_ps(group_dot<kSigned>(w, wa, xv[r]), _mm256_mul_ps(wsv, xs[r]), acc[r][c]);
    }
  }
  // The offset terms: {0, offset} pairs dotted with {scale, sum} pairs, 8 lanes at a time
  // (the panel's zero padding cancels whatever follows the activation row).
  if constexpr (kOffset)
    for (int64_t i = 0; i < panel.pairs_stride; i += 8)
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const __m256 offsets = _mm256_loadu_ps(panel.offset_pairs.data() + c * panel.pairs_stride + i);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_ps(offsets, _mm256_loadu_ps(xss[r] + i), acc[r][c]);
      }
  // Reduce with fully unrolled loops: an indexed access would keep acc in memory.
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) p.y[(m + r) * p.y_stride + n + c] = horizontal_sum(acc[r][c]);
}

// Picks the instantiation for a partial tile (rows < R or cols < C at the edges).
template <int R, int C, bool kSigned, bool kOffset>
void panel_tile_any(const MatmulProblem& p, const Panel& panel, int64_t m, int64_t n, int rows, int cols) {
  if constexpr (R > 1)
    if (rows < R) return panel_tile_any<R - 1, C, kSigned, kOffset>(p, panel, m, n, rows, cols);
  if constexpr (C > 1)
    if (cols < C) return panel_tile_any<R, C - 1, kSigned, kOffset>(p, panel, m, n, rows, cols);
  panel_tile<R, C, kSigned, kOffset>(p, panel, m, n);
}

constexpr int kTileRows = 2, kTileCols = 4;

template <typename Block>
void panel_columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  using F = Format<Block>;
  thread_local Panel panel;
  panel.resize(kTileCols, p.k, p.xq.groups);
  // Activation rows in chunks that stay in the L2 cache while the panels sweep over them.
  const int64_t chunk_rows = std::max<int64_t>(kTileRows, (192 * 1024 / std::max<int64_t>(p.k, 1)) / kTileRows * kTileRows);
  for (int64_t m0 = 0; m0 < p.m; m0 += chunk_rows) {
    const int64_t m1 = std::min(p.m, m0 + chunk_rows);
    for (int64_t n = n_begin; n < n_end; n += kTileCols) {
      const int cols = static_cast<int>(std::min<int64_t>(kTileCols, n_end - n));
      pack_panel<Block>(p, n, cols, panel);
      for (int64_t m = m0; m < m1; m += kTileRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kTileRows, m1 - m));
        panel_tile_any<kTileRows, kTileCols, F::kSigned, F::kOffset>(p, panel, m, n, rows, cols);
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
