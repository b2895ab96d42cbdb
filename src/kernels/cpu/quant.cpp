#include "kernels/cpu/quant.h"

#include <cstring>
#include <string>

#include "core/error.h"
#include "core/half.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_encode.h"

namespace strata::cpu {

namespace {

// Each decoder writes the block's elements in order. The arithmetic mirrors the gguf
// package (f32 products of the f16 scale and the integer value, then the f32 offset).
void decode(const BlockQ8_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int i = 0; i < kQ32; ++i) y[i] = d * static_cast<float>(b.qs[i]);
}

void decode(const BlockQ4_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int i = 0; i < kQ32 / 2; ++i) {
    y[i] = d * static_cast<float>((b.qs[i] & 0xF) - 8);
    y[i + 16] = d * static_cast<float>((b.qs[i] >> 4) - 8);
  }
}

void decode(const BlockQ4_1& b, float* y) {
  const float d = fp16_to_fp32(b.d), m = fp16_to_fp32(b.m);
  for (int i = 0; i < kQ32 / 2; ++i) {
    y[i] = d * static_cast<float>(b.qs[i] & 0xF) + m;
    y[i + 16] = d * static_cast<float>(b.qs[i] >> 4) + m;
  }
}

// The 5-bit values of a Q5_0 / Q5_1 block, 0..31.
void five_bit_values(const uint8_t* qh_bytes, const uint8_t* qs, int* q) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int i = 0; i < kQ32 / 2; ++i) {
    q[i] = (qs[i] & 0xF) | static_cast<int>(((qh >> i) & 1u) << 4);
    q[i + 16] = (qs[i] >> 4) | static_cast<int>(((qh >> (i + 16)) & 1u) << 4);
  }
}

void decode(const BlockQ5_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  int q[kQ32];
  five_bit_values(b.qh, b.qs, q);
  for (int i = 0; i < kQ32; ++i) y[i] = d * static_cast<float>(q[i] - 16);
}

void decode(const BlockQ5_1& b, float* y) {
  const float d = fp16_to_fp32(b.d), m = fp16_to_fp32(b.m);
  int q[kQ32];
  five_bit_values(b.qh, b.qs, q);
  for (int i = 0; i < kQ32; ++i) y[i] = d * static_cast<float>(q[i]) + m;
}

// Q4_K and Q5_K share everything but the fifth bit (qh == nullptr for Q4_K).
void decode_k(uint16_t d_bits, uint16_t dmin_bits, const uint8_t* scales, const uint8_t* qh,
              const uint8_t* qs, float* y) {
  const float d = fp16_to_fp32(d_bits), dmin = fp16_to_fp32(dmin_bits);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, mn;
    unpack_k_scale(scales, j, sc, mn);
    const float scale = d * static_cast<float>(sc), offset = dmin * static_cast<float>(mn);
    const uint8_t* q = qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    for (int l = 0; l < 32; ++l) {
      int v = (q[l] >> shift) & 0xF;
      if (qh != nullptr) v |= ((qh[l] >> j) & 1) << 4;
      y[32 * j + l] = scale * static_cast<float>(v) - offset;
    }
  }
}

void decode(const BlockQ4_K& b, float* y) { decode_k(b.d, b.dmin, b.scales, nullptr, b.qs, y); }
void decode(const BlockQ5_K& b, float* y) { decode_k(b.d, b.dmin, b.scales, b.qh, b.qs, y); }

void decode(const BlockQ6_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int e = 0; e < kQK; ++e) {
    const int h = e / 128, i = (e % 128) / 32, l = e % 32;
    const uint8_t low_byte = b.ql[64 * h + l + 32 * (i & 1)];
    const int low = i < 2 ? (low_byte & 0xF) : (low_byte >> 4);
    const int high = (b.qh[32 * h + l] >> (2 * i)) & 3;
    const float scale = d * static_cast<float>(b.scales[e / 16]);
    y[e] = scale * static_cast<float>((low | (high << 4)) - 32);
  }
}

template <typename Block, int kBlock>
void decode_row(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const Block*>(src);
  for (int64_t b = 0; b < n / kBlock; ++b) decode(blocks[b], dst + b * kBlock);
}

void check_length(DType t, int64_t n) {
  const int64_t block = dtype_info(t).block_size;
  if (n < 0 || n % block != 0)
    throw Error("row length " + std::to_string(n) + " is not a multiple of the " +
                std::string(dtype_name(t)) + " block size " + std::to_string(block));
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  check_length(t, n);
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(static_cast<const uint16_t*>(src)[i]);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(static_cast<const uint16_t*>(src)[i]);
      return;
    case DType::Q8_0: return decode_row<BlockQ8_0, kQ32>(src, dst, n);
    case DType::Q4_0: return decode_row<BlockQ4_0, kQ32>(src, dst, n);
    case DType::Q4_1: return decode_row<BlockQ4_1, kQ32>(src, dst, n);
    case DType::Q5_0: return decode_row<BlockQ5_0, kQ32>(src, dst, n);
    case DType::Q5_1: return decode_row<BlockQ5_1, kQ32>(src, dst, n);
    case DType::Q4_K: return decode_row<BlockQ4_K, kQK>(src, dst, n);
    case DType::Q5_K: return decode_row<BlockQ5_K, kQK>(src, dst, n);
    case DType::Q6_K: return decode_row<BlockQ6_K, kQK>(src, dst, n);
    case DType::I32: break;
  }
  throw Error("dequantize_row: unsupported dtype " + std::string(dtype_name(t)));
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  check_length(t, n);
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = fp32_to_fp16(src[i]);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = fp32_to_bf16(src[i]);
      return;
    case DType::I32: break;
    default: return quantize_blocks(t, src, dst, n);
  }
  throw Error("quantize_row: unsupported dtype " + std::string(dtype_name(t)));
}

}  // namespace strata::cpu
