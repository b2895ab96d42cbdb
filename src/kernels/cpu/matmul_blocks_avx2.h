#pragma once
// AVX2 access to the GGUF block formats for the quantized matmul kernels (included only by
// *_avx2.cpp files, which are compiled for AVX2; everything here has internal linkage so
// no AVX2 code can leak into generic callers).
//
// A weight row is a sequence of 32-element groups, each w[i] = scale * q[i] + offset with
// integer q. Per format, Format<Block> gives
//   values(block, j, lo, hi): group j of the block as int16 (elements 0..15 and 16..31);
//   scales(rows, b, j, scale, offset): group j of block b for eight weight rows at once,
//     as vectors with one lane per row (the kernels keep one lane per output column).
// add_group() is the one f32 update per group that both kernel paths share, so that an
// output does not depend on which path (or tile) computed it.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/matmul_internal.h"
#include "kernels/cpu/quant_blocks.h"

namespace strata::cpu {
namespace {

constexpr int kLanes = 8;  // output columns per kernel tile: one f32 lane each

inline float half_to_float(uint16_t bits) { return _cvtsh_ss(bits); }

inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The first 32 bits of block b of each of the eight rows, one row per lane. Pairs of
// words are joined in general-purpose registers (idle in these loops), so that building
// the vector takes four moves into vector registers rather than eight inserts.
template <typename Block>
__m256i leading_words(const Block* const* rows, int64_t b) {
  const auto pair = [&](int c) {
    return static_cast<int64_t>(load_u32(rows[c] + b) | uint64_t{load_u32(rows[c + 1] + b)} << 32);
  };
  return _mm256_setr_epi64x(pair(0), pair(2), pair(4), pair(6));
}

// Lane i holds the f16 pair (first | second << 16) of row i: both halves as f32 vectors.
inline void split_half_pairs(__m256i pairs, __m256& first, __m256& second) {
  // Per 128-bit lane: low halves to bytes 0..7, high halves to 8..15; then the qwords
  // are reordered to {first 0..7 | second 0..7}.
  const __m256i order = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                         0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  const __m256i grouped = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(pairs, order), 0xD8);
  first = _mm256_cvtph_ps(_mm256_castsi256_si128(grouped));
  second = _mm256_cvtph_ps(_mm256_extracti128_si256(grouped, 1));
}

// Scales of the formats whose blocks start with d (and, with an offset, m) as f16.
template <typename Block, bool kOffset>
void leading_scales(const Block* const* rows, int64_t b, __m256& scale, __m256& offset) {
  split_half_pairs(leading_words(rows, b), scale, offset);
  if constexpr (!kOffset) offset = _mm256_setzero_ps();
}

// 16 bytes of packed nibbles -> elements 0..15 (low nibbles) and 16..31 (high nibbles).
// Zero-extending the bytes to words first leaves each nibble one mask or shift away.
inline void nibbles_to_int16(const uint8_t* qs, __m256i& lo, __m256i& hi) {
  const __m256i words = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  lo = _mm256_and_si256(words, _mm256_set1_epi16(0x0F));
  hi = _mm256_srli_epi16(words, 4);
}

// Byte i of the result is 0x10 when bit i of qh is set.
inline __m256i fifth_bits(const uint8_t* qh_bytes) {
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(load_u32(qh_bytes))),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

// 16 bytes of nibbles with fifth bits -> 32 unsigned 5-bit values as bytes.
inline __m256i five_bit_values(const uint8_t* qs, const uint8_t* qh) {
  const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  const __m256i nibbles =
      _mm256_and_si256(_mm256_srlv_epi32(both, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(0x0F));
  return _mm256_or_si256(nibbles, fifth_bits(qh));
}

inline void widen_unsigned(__m256i bytes, __m256i& lo, __m256i& hi) {
  lo = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(bytes));
  hi = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(bytes, 1));
}

// Per-row scalar scales gathered into lanes (the K-quants, whose scales are not plain f16).
template <typename Block, typename ScalarScales>
void lane_scales(const Block* const* rows, int64_t b, ScalarScales scalar, __m256& scale, __m256& offset) {
  alignas(32) float s[kLanes], o[kLanes];
  for (int c = 0; c < kLanes; ++c) scalar(rows[c][b], s[c], o[c]);
  scale = _mm256_load_ps(s), offset = _mm256_load_ps(o);
}

// Per format: groups per block, whether an offset term exists, values() and scales().
// Zero points (Q4_0, Q5_0) are subtracted in the integers, so those need no offset term.
template <typename Block> struct Format;

template <> struct Format<BlockQ8_0> {
  static constexpr int kGroups = 1;
  static constexpr bool kOffset = false;
  static void values(const BlockQ8_0& b, int, __m256i& lo, __m256i& hi) {
    const __m128i* q = reinterpret_cast<const __m128i*>(b.qs);
    lo = _mm256_cvtepi8_epi16(_mm_loadu_si128(q)), hi = _mm256_cvtepi8_epi16(_mm_loadu_si128(q + 1));
  }
  static void scales(const BlockQ8_0* const* rows, int64_t b, int, __m256& s, __m256& o) {
    leading_scales<BlockQ8_0, false>(rows, b, s, o);
  }
};

template <> struct Format<BlockQ4_0> {
  static constexpr int kGroups = 1;
  static constexpr bool kOffset = false;
  static void values(const BlockQ4_0& b, int, __m256i& lo, __m256i& hi) {
    const __m256i eight = _mm256_set1_epi16(8);
    nibbles_to_int16(b.qs, lo, hi);
    lo = _mm256_sub_epi16(lo, eight), hi = _mm256_sub_epi16(hi, eight);
  }
  static void scales(const BlockQ4_0* const* rows, int64_t b, int, __m256& s, __m256& o) {
    leading_scales<BlockQ4_0, false>(rows, b, s, o);
  }
};

template <> struct Format<BlockQ4_1> {
  static constexpr int kGroups = 1;
  static constexpr bool kOffset = true;
  static void values(const BlockQ4_1& b, int, __m256i& lo, __m256i& hi) { nibbles_to_int16(b.qs, lo, hi); }
  static void scales(const BlockQ4_1* const* rows, int64_t b, int, __m256& s, __m256& o) {
    leading_scales<BlockQ4_1, true>(rows, b, s, o);
  }
};

template <> struct Format<BlockQ5_0> {
  static constexpr int kGroups = 1;
  static constexpr bool kOffset = false;
  static void values(const BlockQ5_0& b, int, __m256i& lo, __m256i& hi) {
    widen_unsigned(five_bit_values(b.qs, b.qh), lo, hi);
    const __m256i sixteen = _mm256_set1_epi16(16);
    lo = _mm256_sub_epi16(lo, sixteen), hi = _mm256_sub_epi16(hi, sixteen);
  }
  static void scales(const BlockQ5_0* const* rows, int64_t b, int, __m256& s, __m256& o) {
    leading_scales<BlockQ5_0, false>(rows, b, s, o);
  }
};

template <> struct Format<BlockQ5_1> {
  static constexpr int kGroups = 1;
  static constexpr bool kOffset = true;
  static void values(const BlockQ5_1& b, int, __m256i& lo, __m256i& hi) {
    widen_unsigned(five_bit_values(b.qs, b.qh), lo, hi);
  }
  static void scales(const BlockQ5_1* const* rows, int64_t b, int, __m256& s, __m256& o) {
    leading_scales<BlockQ5_1, true>(rows, b, s, o);
  }
};

// Q4_K / Q5_K: group j uses the low (even j) or high (odd j) nibbles of qs[32 (j / 2) ..];
// Q5_K's fifth bit of element l is bit j of qh[l].
template <bool kFifthBit>
void k_values(const uint8_t* qh, const uint8_t* qs, int j, __m256i& lo, __m256i& hi) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * (j / 2)));
  __m256i q = _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(4 * (j % 2))), _mm256_set1_epi8(0x0F));
  if constexpr (kFifthBit) {
    const __m256i high = _mm256_srl_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh)), _mm_cvtsi32_si128(j));
    q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(high, _mm256_set1_epi8(1)), 4));
  }
  widen_unsigned(q, lo, hi);
}

template <typename Block>
void k_scales(const Block* const* rows, int64_t b, int j, __m256& s, __m256& o) {
  lane_scales(rows, b, [j](const Block& block, float& scale, float& offset) {
    uint8_t sc, mn;
    unpack_k_scale(block.scales, j, sc, mn);
    scale = half_to_float(block.d) * static_cast<float>(sc);
    offset = -half_to_float(block.dmin) * static_cast<float>(mn);
  }, s, o);
}

template <> struct Format<BlockQ4_K> {
  static constexpr int kGroups = 8;
  static constexpr bool kOffset = true;
  static void values(const BlockQ4_K& b, int j, __m256i& lo, __m256i& hi) { k_values<false>(nullptr, b.qs, j, lo, hi); }
  static void scales(const BlockQ4_K* const* rows, int64_t b, int j, __m256& s, __m256& o) { k_scales(rows, b, j, s, o); }
};

template <> struct Format<BlockQ5_K> {
  static constexpr int kGroups = 8;
  static constexpr bool kOffset = true;
  static void values(const BlockQ5_K& b, int j, __m256i& lo, __m256i& hi) { k_values<true>(b.qh, b.qs, j, lo, hi); }
  static void scales(const BlockQ5_K* const* rows, int64_t b, int j, __m256& s, __m256& o) { k_scales(rows, b, j, s, o); }
};

// Q6_K: group j (32 elements) covers sub-blocks 2j and 2j + 1; their int8 scales are
// multiplied into the int16 values (|(q - 32) * scale| <= 4096), leaving one f32 scale d.
// A group's integer dot then needs activations of at most 16383 levels to fit int32
// (activation_levels()).
template <> struct Format<BlockQ6_K> {
  static constexpr int kGroups = 8;
  static constexpr bool kOffset = false;
  static void values(const BlockQ6_K& b, int j, __m256i& lo, __m256i& hi) {
    const int h = j / 4, i = j % 4;
    const __m256i lv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32 * (i & 1)));
    const __m256i hv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
    const __m256i low = _mm256_and_si256(_mm256_srl_epi16(lv, _mm_cvtsi32_si128(i < 2 ? 0 : 4)), _mm256_set1_epi8(0x0F));
    const __m256i high = _mm256_and_si256(_mm256_srl_epi16(hv, _mm_cvtsi32_si128(2 * i)), _mm256_set1_epi8(3));
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), _mm256_set1_epi8(32));
    lo = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(q)), _mm256_set1_epi16(b.scales[2 * j]));
    hi = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)), _mm256_set1_epi16(b.scales[2 * j + 1]));
  }
  static void scales(const BlockQ6_K* const* rows, int64_t b, int, __m256& s, __m256& o) {
    lane_scales(rows, b, [](const BlockQ6_K& block, float& scale, float& offset) {
      scale = half_to_float(block.d), offset = 0.0f;
    }, s, o);
  }
};

// The f32 update of one group for eight output columns (one per lane): the exact int32
// dots times (weight scale * activation scale), plus offset * (sum of the activations).
template <bool kOffset>
__m256 add_group(__m256 acc, __m256i dots, __m256 w_scale, __m256 w_offset, const float* x_scale, const float* x_sum) {
  acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), _mm256_mul_ps(w_scale, _mm256_broadcast_ss(x_scale)), acc);
  if constexpr (kOffset) acc = _mm256_fmadd_ps(w_offset, _mm256_broadcast_ss(x_sum), acc);
  return acc;
}

// Calls fn(Block{}) with the block struct of a quantized dtype; false for other dtypes.
template <typename Fn>
bool visit_block_type(DType t, Fn&& fn) {
  switch (t) {
    case DType::Q8_0: fn(BlockQ8_0{}); return true;
    case DType::Q4_0: fn(BlockQ4_0{}); return true;
    case DType::Q4_1: fn(BlockQ4_1{}); return true;
    case DType::Q5_0: fn(BlockQ5_0{}); return true;
    case DType::Q5_1: fn(BlockQ5_1{}); return true;
    case DType::Q4_K: fn(BlockQ4_K{}); return true;
    case DType::Q5_K: fn(BlockQ5_K{}); return true;
    case DType::Q6_K: fn(BlockQ6_K{}); return true;
    default: return false;
  }
}

// Stores (or adds, for matmul_accumulate) the first `cols` lanes of v to y.
inline void store_lanes(const MatmulProblem& p, float* y, __m256 v, int cols) {
  if (!p.accumulate && cols == kLanes) {
    _mm256_storeu_ps(y, v);
    return;
  }
  alignas(32) float lanes[kLanes];
  _mm256_store_ps(lanes, v);
  for (int c = 0; c < cols; ++c) store_output(p, y + c, lanes[c]);
}

}  // namespace
}  // namespace strata::cpu
