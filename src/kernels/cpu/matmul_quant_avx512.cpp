// AVX-512 VNNI kernels for the 32-element block formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1).
//
// A tile is 16 weight rows, one per 32-bit lane. Each 32-element group of the tile is
// transposed once into eight vectors, vector j holding elements 4j .. 4j + 3 of every row
// as unsigned bytes (signed formats are shifted up by their zero point). vpdpbusd then
// multiplies a vector by four activation bytes broadcast to every lane and adds the four
// products into each row's own lane: 64 multiply-adds an instruction, no reduction across
// lanes, for one activation row or hundreds alike (the group is unpacked once per tile and
// reused by every activation row).
//
// Activations are the int16 groups of matmul_internal.h split into signed bytes,
// q = 256 hi + lo, so a group dot is 256 dot(w, hi) + dot(w, lo) - zero * sum(q): exactly
// the int32 that the AVX2 kernels compute from int16, followed by the same f32 update,
// so these kernels give the AVX2 family's outputs bit for bit, for every M.
#include "kernels/cpu/avx512_intrinsics.h"

#include <algorithm>
#include <cstring>

#include "core/aligned_vector.h"
#include "kernels/cpu/matmul_internal.h"
#include "kernels/cpu/quant_blocks.h"

namespace strata::cpu {
namespace {

constexpr int kRows = static_cast<int>(kAvx512Tile);
constexpr int kVectors = kActGroup / 4;  // byte quadruples per group

// One group of a tile: v[j] = elements 4j .. 4j + 3 of each row (lane) as unsigned bytes;
// scale and offset (w = scale * q + offset) per row.
struct GroupTile {
  __m512i v[kVectors];
  __m512 scale, offset;
};

// The tile's weight rows; rows past the matrix repeat the last real one (lanes are
// independent, so the padding cannot change the real outputs). `offsets` holds each row's
// byte offset from the first, for gathers.
template <typename Block>
struct TileRows {
  const uint8_t* first = nullptr;
  __m512i offsets;
  const Block* row[kRows];

  TileRows(const MatmulProblem& p, int64_t n, int cols) {
    first = p.w + n * p.w_row_bytes;
    alignas(64) int32_t off[kRows];
    for (int c = 0; c < kRows; ++c) {
      const int64_t r = std::min(c, cols - 1);
      off[c] = static_cast<int32_t>(r * p.w_row_bytes);
      row[c] = reinterpret_cast<const Block*>(first + off[c]);
    }
    offsets = _mm512_load_si512(off);
  }

  // The 32-bit word at byte `field` of block b of every row, one row per lane.
  __m512i gather_word(int64_t b, size_t field) const {
    return _mm512_i32gather_epi32(offsets, first + b * static_cast<int64_t>(sizeof(Block)) + field, 1);
  }
};

inline __m512 low_halves(__m512i words) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(words)); }
inline __m512 high_halves(__m512i words) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(words, 16))); }

// 16 f16 scales (the tile order's d of 16 rows) as f32.
inline __m512 half_scales(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }

inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Words j = 0..3 (lane c: row c's nibble bytes 4j .. 4j + 3) -> v[j] = low nibbles
// (elements 4j ..), v[j + 4] = high nibbles (elements 16 + 4j ..).
[[gnu::always_inline]] inline void split_nibbles(const __m512i words[4], __m512i v[kVectors]) {
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  for (int j = 0; j < 4; ++j) {
    v[j] = _mm512_and_si512(words[j], nibble);
    v[j + 4] = _mm512_and_si512(_mm512_srli_epi16(words[j], 4), nibble);
  }
}

// 16 bytes of packed nibbles per row (element i in the low nibble of byte i, element
// 16 + i in the high one) -> v[0..3] (elements 0..15) and v[4..7] (elements 16..31).
// Rows i, i + 4, i + 8, i + 12 share a register, then a 4 x 4 transpose of 32-bit words
// inside each 128-bit lane leaves row c in lane c.
template <typename Block>
[[gnu::always_inline]] inline void nibble_vectors(const TileRows<Block>& rows, int64_t b, __m512i v[kVectors]) {
  __m512i z[4];
  for (int i = 0; i < 4; ++i) {
    __m512i t = _mm512_castsi128_si512(load128(rows.row[i][b].qs));
    t = _mm512_inserti32x4(t, load128(rows.row[i + 4][b].qs), 1);
    t = _mm512_inserti32x4(t, load128(rows.row[i + 8][b].qs), 2);
    z[i] = _mm512_inserti32x4(t, load128(rows.row[i + 12][b].qs), 3);
  }
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  const __m512i words[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2),
                            _mm512_unpacklo_epi64(t1, t3), _mm512_unpackhi_epi64(t1, t3)};
  split_nibbles(words, v);
}

// The tile order's four nibble vectors at `quants` (weight_tiles.h) -> v[0..7].
[[gnu::always_inline]] inline void tiled_nibble_vectors(const uint8_t* quants, __m512i v[kVectors]) {
  const __m512i words[4] = {_mm512_loadu_si512(quants), _mm512_loadu_si512(quants + 64),
                            _mm512_loadu_si512(quants + 128), _mm512_loadu_si512(quants + 192)};
  split_nibbles(words, v);
}

// Adds the fifth bit (bit i of the 32-bit qh is element i's) as 16 to each byte.
[[gnu::always_inline]] inline void add_fifth_bits(__m512i qh, __m512i v[kVectors]) {
  // Entry t: bit i of t moved to bit 4 of byte i.
  const __m512i spread = _mm512_setr_epi32(0x00000000, 0x00000010, 0x00001000, 0x00001010, 0x00100000, 0x00100010,
                                           0x00101000, 0x00101010, 0x10000000, 0x10000010, 0x10001000, 0x10001010,
                                           0x10100000, 0x10100010, 0x10101000, 0x10101010);
  for (int j = 0; j < kVectors; ++j) {
    // permutexvar reads only the low four bits of each index: bits 4j .. 4j + 3 of qh.
    const __m512i bits = _mm512_permutexvar_epi32(_mm512_srli_epi32(qh, 4 * j), spread);
    v[j] = _mm512_or_si512(v[j], bits);
  }
}

// 32 bytes per row (Q8_0) -> v[0..7]: rows c and c + 8 share a register, an 8 x 8
// transpose of 32-bit words runs in both 256-bit halves, and a two-source permute puts
// rows 0..15 in lanes 0..15.
template <typename Block>
[[gnu::always_inline]] inline void byte_vectors(const TileRows<Block>& rows, int64_t b, __m512i v[kVectors]) {
  __m512i z[8], t[8], u[8];
  for (int i = 0; i < 8; ++i)
    z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(load256(rows.row[i][b].qs)), load256(rows.row[i + 8][b].qs), 1);
  for (int i = 0; i < 8; i += 2) t[i] = _mm512_unpacklo_epi32(z[i], z[i + 1]), t[i + 1] = _mm512_unpackhi_epi32(z[i], z[i + 1]);
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // u[p] (p < 4): 128-bit lanes {rows 0-3 word p, rows 0-3 word 4+p, rows 8-11 word p,
  // rows 8-11 word 4+p}; u[4 + p] the same for rows 4-7 and 12-15.
  const __m512i first = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), second = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  for (int p = 0; p < 4; ++p) {
    v[p] = _mm512_permutex2var_epi64(u[p], first, u[4 + p]);
    v[p + 4] = _mm512_permutex2var_epi64(u[p], second, u[4 + p]);
  }
}

// Per format: the zero point removed in the integers (as a power of two, -1 for none),
// whether an f32 offset term exists, and load() of one group of a tile.
template <typename Block> struct Vnni;

template <> struct Vnni<BlockQ8_0> {
  static constexpr int kZeroShift = 7;
  static constexpr bool kOffset = false;
  [[gnu::always_inline]] static void load(const TileRows<BlockQ8_0>& rows, int64_t b, GroupTile& t) {
    byte_vectors(rows, b, t.v);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));  // signed -> unsigned + 128
    for (auto& v : t.v) v = _mm512_xor_si512(v, flip);
    t.scale = low_halves(rows.gather_word(b, offsetof(BlockQ8_0, d)));
  }
  [[gnu::always_inline]] static void load_tiled(const uint8_t* group, GroupTile& t) {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int j = 0; j < kVectors; ++j) t.v[j] = _mm512_xor_si512(_mm512_loadu_si512(group + 64 * j), flip);
    t.scale = half_scales(group + 64 * kVectors);
  }
};

template <> struct Vnni<BlockQ4_0> {
  static constexpr int kZeroShift = 3;
  static constexpr bool kOffset = false;
  [[gnu::always_inline]] static void load(const TileRows<BlockQ4_0>& rows, int64_t b, GroupTile& t) {
    nibble_vectors(rows, b, t.v);
    t.scale = low_halves(rows.gather_word(b, offsetof(BlockQ4_0, d)));
  }
  [[gnu::always_inline]] static void load_tiled(const uint8_t* group, GroupTile& t) {
    tiled_nibble_vectors(group, t.v);
    t.scale = half_scales(group + 256);
  }
};

template <> struct Vnni<BlockQ4_1> {
  static constexpr int kZeroShift = -1;
  static constexpr bool kOffset = true;
  [[gnu::always_inline]] static void load(const TileRows<BlockQ4_1>& rows, int64_t b, GroupTile& t) {
    nibble_vectors(rows, b, t.v);
    const __m512i dm = rows.gather_word(b, offsetof(BlockQ4_1, d));
    t.scale = low_halves(dm), t.offset = high_halves(dm);
  }
  [[gnu::always_inline]] static void load_tiled(const uint8_t* group, GroupTile& t) {
    tiled_nibble_vectors(group, t.v);
    const __m512i dm = _mm512_loadu_si512(group + 256);
    t.scale = low_halves(dm), t.offset = high_halves(dm);
  }
};

template <> struct Vnni<BlockQ5_0> {
  static constexpr int kZeroShift = 4;
  static constexpr bool kOffset = false;
  [[gnu::always_inline]] static void load(const TileRows<BlockQ5_0>& rows, int64_t b, GroupTile& t) {
    nibble_vectors(rows, b, t.v);
    add_fifth_bits(rows.gather_word(b, offsetof(BlockQ5_0, qh)), t.v);
    t.scale = low_halves(rows.gather_word(b, offsetof(BlockQ5_0, d)));
  }
  [[gnu::always_inline]] static void load_tiled(const uint8_t* group, GroupTile& t) {
    tiled_nibble_vectors(group, t.v);
    add_fifth_bits(_mm512_loadu_si512(group + 256), t.v);
    t.scale = half_scales(group + 320);
  }
};

template <> struct Vnni<BlockQ5_1> {
  static constexpr int kZeroShift = -1;
  static constexpr bool kOffset = true;
  [[gnu::always_inline]] static void load(const TileRows<BlockQ5_1>& rows, int64_t b, GroupTile& t) {
    nibble_vectors(rows, b, t.v);
    add_fifth_bits(rows.gather_word(b, offsetof(BlockQ5_1, qh)), t.v);
    const __m512i dm = rows.gather_word(b, offsetof(BlockQ5_1, d));
    t.scale = low_halves(dm), t.offset = high_halves(dm);
  }
  [[gnu::always_inline]] static void load_tiled(const uint8_t* group, GroupTile& t) {
    tiled_nibble_vectors(group, t.v);
    add_fifth_bits(_mm512_loadu_si512(group + 256), t.v);
    const __m512i dm = _mm512_loadu_si512(group + 320);
    t.scale = low_halves(dm), t.offset = high_halves(dm);
  }
};

inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// One activation row's group g against a group tile: acc (one lane per weight row) gets
// the exact int32 dot times (weight scale * activation scale), then offset * sum, the f32
// operations of the AVX2 kernels' add_group in the same order.
template <typename Block>
[[gnu::always_inline]] inline __m512 add_group(__m512 acc, const GroupTile& t, const QuantizedRows& xq, int64_t row, int64_t k, int64_t g) {
  using F = Vnni<Block>;
  const int8_t* hi = xq.hi + row * k + g * kActGroup;
  const int8_t* lo = xq.lo + row * k + g * kActGroup;
  __m512i h0 = _mm512_setzero_si512(), h1 = h0, l0 = h0, l1 = h0;  // two chains each: latency
  if (xq.hi_zero) {  // int8 activations: q = lo, half the multiply-adds
    for (int j = 0; j < kVectors; j += 2) {
      l0 = _mm512_dpbusd_epi32(l0, t.v[j], _mm512_set1_epi32(load_i32(lo + 4 * j)));
      l1 = _mm512_dpbusd_epi32(l1, t.v[j + 1], _mm512_set1_epi32(load_i32(lo + 4 * j + 4)));
    }
  } else {
    for (int j = 0; j < kVectors; j += 2) {
      h0 = _mm512_dpbusd_epi32(h0, t.v[j], _mm512_set1_epi32(load_i32(hi + 4 * j)));
      l0 = _mm512_dpbusd_epi32(l0, t.v[j], _mm512_set1_epi32(load_i32(lo + 4 * j)));
      h1 = _mm512_dpbusd_epi32(h1, t.v[j + 1], _mm512_set1_epi32(load_i32(hi + 4 * j + 4)));
      l1 = _mm512_dpbusd_epi32(l1, t.v[j + 1], _mm512_set1_epi32(load_i32(lo + 4 * j + 4)));
    }
  }
  __m512i dot = _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(h0, h1), 8), _mm512_add_epi32(l0, l1));
  const int64_t at = row * xq.group_stride + g;
  if constexpr (F::kZeroShift >= 0) dot = _mm512_sub_epi32(dot, _mm512_set1_epi32(xq.q_sum[at] * (1 << F::kZeroShift)));
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(t.scale, _mm512_set1_ps(xq.scale[at])), acc);
  if constexpr (F::kOffset) acc = _mm512_fmadd_ps(t.offset, _mm512_set1_ps(xq.sum[at]), acc);
  return acc;
}

// Stores (or adds, for matmul_accumulate) the first `cols` lanes of v to y.
inline void store_lanes(const MatmulProblem& p, float* y, __m512 v, int cols) {
  const __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1u);
  if (p.accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), v);
  _mm512_mask_storeu_ps(y, mask, v);
}

// Prefetches the next tile's bytes a few lines per group while this tile computes (decode
// streams the weights once; without it the loads wait on memory latency).
struct Prefetch {
  const uint8_t* ahead = nullptr;
  int64_t lines_per_group = 0;

  void group(int64_t g) const {
    for (int64_t l = g * lines_per_group; l < (g + 1) * lines_per_group; ++l)
      _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * l), _MM_HINT_T0);
  }
};

// Where a tile's groups come from: rows in GGUF's order (transposed as they are loaded)
// or a whole tile already in the tile order (weight_tiles.h).
template <typename Block>
struct RowSource {
  TileRows<Block> rows;
  [[gnu::always_inline]] void load(int64_t g, GroupTile& t) const { Vnni<Block>::load(rows, g, t); }
};

template <typename Block>
struct TiledSource {
  const uint8_t* tile;
  [[gnu::always_inline]] void load(int64_t g, GroupTile& t) const {
    Vnni<Block>::load_tiled(tile + g * kRows * static_cast<int64_t>(sizeof(Block)), t);
  }
};

// R <= 4 activation rows (decode, small batches) with their accumulators in registers.
template <typename Block, int R, typename Source>
void register_tile(const MatmulProblem& p, const Source& source, int64_t m, int64_t n, int cols,
                   const Prefetch& prefetch) {
  __m512 acc[R];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (int64_t g = 0; g < p.xq.groups; ++g) {
    prefetch.group(g);
    GroupTile t;
    source.load(g, t);
    for (int r = 0; r < R; ++r) acc[r] = add_group<Block>(acc[r], t, p.xq, m + r, p.k, g);
  }
  for (int r = 0; r < R; ++r) store_lanes(p, p.y + (m + r) * p.y_stride + n, acc[r], cols);
}

template <typename Block, int R, typename Source>
void register_tile_rows(const MatmulProblem& p, const Source& source, int64_t m, int rows_here, int64_t n, int cols,
                        const Prefetch& prefetch) {
  if constexpr (R > 1)
    if (rows_here < R) return register_tile_rows<Block, R - 1>(p, source, m, rows_here, n, cols, prefetch);
  register_tile<Block, R>(p, source, m, n, cols, prefetch);
}

constexpr int kRegisterRows = 4;

// More rows: each group is unpacked once and every row of [m0, m1) takes it; the
// accumulators live in `acc` (L1/L2) between groups.
template <typename Block, typename Source>
void memory_tile(const MatmulProblem& p, const Source& source, int64_t m0, int64_t m1, int64_t n, int cols,
                 const Prefetch& prefetch, AlignedVector<float>& acc) {
  acc.assign(static_cast<size_t>((m1 - m0) * kRows), 0.0f);
  for (int64_t g = 0; g < p.xq.groups; ++g) {
    prefetch.group(g);
    GroupTile t;
    source.load(g, t);
    for (int64_t m = m0; m < m1; ++m) {
      float* a = acc.data() + (m - m0) * kRows;
      _mm512_store_ps(a, add_group<Block>(_mm512_load_ps(a), t, p.xq, m, p.k, g));
    }
  }
  for (int64_t m = m0; m < m1; ++m)
    store_lanes(p, p.y + m * p.y_stride + n, _mm512_load_ps(acc.data() + (m - m0) * kRows), cols);
}

template <typename Block, typename Source>
void run_tile(const MatmulProblem& p, const Source& source, int64_t m0, int64_t m1, int64_t n, int cols,
              const Prefetch& prefetch, AlignedVector<float>& acc) {
  if (m1 - m0 <= kRegisterRows)
    register_tile_rows<Block, kRegisterRows>(p, source, m0, static_cast<int>(m1 - m0), n, cols, prefetch);
  else
    memory_tile<Block>(p, source, m0, m1, n, cols, prefetch, acc);
}

template <typename Block>
void columns(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  thread_local AlignedVector<float> acc;
  // Rows of whole tiles in the tile order; the rest (and all of a row-order tensor) are
  // transposed as they are read.
  const int64_t tiled_end = p.tiled ? p.n / kRows * kRows : 0;
  // Activation rows in chunks whose bytes (hi + lo: 2 per element) stay in the L2 cache
  // while the tiles sweep over them.
  const int64_t chunk_rows = std::max<int64_t>(kRegisterRows + 1, 256 * 1024 / (2 * p.k));
  for (int64_t m0 = 0; m0 < p.m; m0 += chunk_rows) {
    const int64_t m1 = std::min(p.m, m0 + chunk_rows);
    for (int64_t n = n_begin; n < n_end; n += kRows) {
      const int cols = static_cast<int>(std::min<int64_t>(kRows, n_end - n));
      const int64_t next = std::min(n + kRows, n_end);
      const int64_t ahead_bytes = (std::min(next + kRows, n_end) - next) * p.w_row_bytes;
      const Prefetch prefetch{p.w + next * p.w_row_bytes, (ahead_bytes / 64 + p.xq.groups - 1) / p.xq.groups};
      if (n < tiled_end)  // the dispatcher splits columns in whole tiles
        run_tile<Block>(p, TiledSource<Block>{p.w + n * p.w_row_bytes}, m0, m1, n, cols, prefetch, acc);
      else
        run_tile<Block>(p, RowSource<Block>{TileRows<Block>(p, n, cols)}, m0, m1, n, cols, prefetch, acc);
    }
  }
}

}  // namespace

void matmul_columns_avx512(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  if (p.xf != nullptr) return matmul_float_columns_avx512(p, n_begin, n_end);
  switch (p.wtype) {
    case DType::Q8_0: return columns<BlockQ8_0>(p, n_begin, n_end);
    case DType::Q4_0: return columns<BlockQ4_0>(p, n_begin, n_end);
    case DType::Q4_1: return columns<BlockQ4_1>(p, n_begin, n_end);
    case DType::Q5_0: return columns<BlockQ5_0>(p, n_begin, n_end);
    case DType::Q5_1: return columns<BlockQ5_1>(p, n_begin, n_end);
    default: return matmul_columns_avx2(p, n_begin, n_end);  // K-quants: the AVX2 kernels
  }
}

}  // namespace strata::cpu
