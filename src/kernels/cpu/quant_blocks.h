#pragma once
// GGUF / ggml block layouts of the quantized weight formats. Each struct is one block as
// stored in the file (little-endian, no padding); 16-bit scales are IEEE half floats kept
// as raw bits. A block of `kBlockSize` elements decodes as described next to each struct.
#include <cstddef>
#include <cstdint>

namespace strata::cpu {

constexpr int kQ32 = 32;    // elements per block of the "legacy" formats
constexpr int kQK = 256;    // elements per super-block of the K-quants

// x[i] = d * qs[i]
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQ32];
};

// x[i] = d * ((qs[i] & 15) - 8), x[i + 16] = d * ((qs[i] >> 4) - 8), i < 16
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQ32 / 2];
};

// x[i] = d * (qs[i] & 15) + m, x[i + 16] = d * (qs[i] >> 4) + m
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQ32 / 2];
};

// 5-bit: the low nibble as in Q4_0, bit i of the little-endian 32-bit `qh` is the fifth
// bit of element i. x[i] = d * (q5[i] - 16)
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQ32 / 2];
};

// x[i] = d * q5[i] + m
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQ32 / 2];
};

// Eight sub-blocks of 32, each with a 6-bit scale and a 6-bit min packed into `scales`
// (see unpack_k_scales). Sub-block j of 64-element chunk c: j = 2c takes the low nibbles
// of qs[32c .. 32c+31], j = 2c + 1 the high nibbles. x = d * sc[j] * q - dmin * m[j].
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQK / 2];
};

// As Q4_K with a fifth bit: bit j of qh[l] is the high bit of element 32j + l.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK / 8];
  uint8_t qs[kQK / 2];
};

// Sixteen sub-blocks of 16 with signed 8-bit scales; 6-bit values, offset 32. In half h
// (128 elements), element 128h + 32i + l (i < 4, l < 32) takes its low 4 bits from
// ql[64h + l + 32 (i & 1)] (low nibble for i < 2, high nibble for i >= 2) and its high
// 2 bits from qh[32h + l] >> 2i. x = d * scales[e / 16] * (q - 32).
struct BlockQ6_K {
  uint8_t ql[kQK / 2];
  uint8_t qh[kQK / 4];
  int8_t scales[kQK / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block: the first four
// live in the low 6 bits of bytes 0..3 (scales) and 4..7 (mins); the last four split
// into a low nibble in bytes 8..11 and two high bits in the top of bytes 0..7.
inline void unpack_k_scale(const uint8_t* scales, int j, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = scales[j] & 63;
    min = scales[j + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
    min = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// The inverse of unpack_k_scale for all eight sub-blocks (values must be < 64).
inline void pack_k_scales(const uint8_t scale[8], const uint8_t min[8], uint8_t* scales) {
  for (int j = 0; j < 4; ++j) {
    scales[j] = static_cast<uint8_t>(scale[j] | ((scale[j + 4] >> 4) << 6));
    scales[j + 4] = static_cast<uint8_t>(min[j] | ((min[j + 4] >> 4) << 6));
    scales[j + 8] = static_cast<uint8_t>((scale[j + 4] & 0xF) | ((min[j + 4] & 0xF) << 4));
  }
}

}  // namespace strata::cpu
