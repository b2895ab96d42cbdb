#include "kernels/cpu/quant_encode.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/half.h"
#include "kernels/cpu/quant_blocks.h"

namespace strata::cpu {

namespace {

float inverse_or_zero(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

// The element of largest magnitude, with its sign (the first one on ties).
float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  return max;
}

// Symmetric formats map the signed extreme to -2^(bits-1); values round to nearest by
// truncating x/d + offset + 0.5, as ggml's reference quantizers do.
void encode_symmetric(const float* x, float levels, int max_q, float& d, uint8_t* q) {
  d = signed_absmax(x, kQ32) / -levels;
  const float id = inverse_or_zero(d);
  for (int i = 0; i < kQ32; ++i)
    q[i] = static_cast<uint8_t>(std::min(max_q, static_cast<int>(x[i] * id + (levels + 0.5f))));
}

// Asymmetric formats: d = (max - min) / max_q, x = d q + min.
void encode_asymmetric(const float* x, int max_q, float& d, float& min, uint8_t* q) {
  min = *std::min_element(x, x + kQ32);
  const float max = *std::max_element(x, x + kQ32);
  d = (max - min) / static_cast<float>(max_q);
  const float id = inverse_or_zero(d);
  for (int i = 0; i < kQ32; ++i)
    q[i] = static_cast<uint8_t>(std::min(max_q, static_cast<int>((x[i] - min) * id + 0.5f)));
}

void pack_nibbles(const uint8_t* q, uint8_t* qs) {
  for (int i = 0; i < kQ32 / 2; ++i) qs[i] = static_cast<uint8_t>((q[i] & 0xF) | ((q[i + 16] & 0xF) << 4));
}

void pack_fifth_bits(const uint8_t* q, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int i = 0; i < kQ32; ++i) qh |= static_cast<uint32_t>((q[i] >> 4) & 1) << i;
  std::memcpy(qh_bytes, &qh, 4);
}

void encode(const float* x, BlockQ8_0& b) {
  float amax = 0.0f;
  for (int i = 0; i < kQ32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f, id = inverse_or_zero(d);
  b.d = fp32_to_fp16(d);
  for (int i = 0; i < kQ32; ++i) b.qs[i] = static_cast<int8_t>(std::round(x[i] * id));
}

void encode(const float* x, BlockQ4_0& b) {
  float d;
  uint8_t q[kQ32];
  encode_symmetric(x, 8.0f, 15, d, q);
  b.d = fp32_to_fp16(d);
  pack_nibbles(q, b.qs);
}

void encode(const float* x, BlockQ4_1& b) {
  float d, min;
  uint8_t q[kQ32];
  encode_asymmetric(x, 15, d, min, q);
  b.d = fp32_to_fp16(d);
  b.m = fp32_to_fp16(min);
  pack_nibbles(q, b.qs);
}

void encode(const float* x, BlockQ5_0& b) {
  float d;
  uint8_t q[kQ32];
  encode_symmetric(x, 16.0f, 31, d, q);
  b.d = fp32_to_fp16(d);
  pack_fifth_bits(q, b.qh);
  pack_nibbles(q, b.qs);
}

void encode(const float* x, BlockQ5_1& b) {
  float d, min;
  uint8_t q[kQ32];
  encode_asymmetric(x, 31, d, min, q);
  b.d = fp32_to_fp16(d);
  b.m = fp32_to_fp16(min);
  pack_fifth_bits(q, b.qh);
  pack_nibbles(q, b.qs);
}

int round_clamped(float v, int lo, int hi) {
  return std::clamp(static_cast<int>(std::lround(v)), lo, hi);
}

// Q4_K / Q5_K: each sub-block of 32 gets x ~ scale q - min with min >= 0 (the sub-block's
// minimum clamped to <= 0, negated); the eight scales and mins are then quantized to
// 6 bits against the block's d and dmin, and the values re-quantized with the final ones.
void encode_k(const float* x, int max_q, uint16_t& d_bits, uint16_t& dmin_bits,
              uint8_t* scales, uint8_t* q) {
  float sub_scale[8], sub_min[8], max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    const float lo = std::min(0.0f, *std::min_element(xs, xs + 32));
    const float hi = *std::max_element(xs, xs + 32);
    sub_scale[j] = (hi - lo) / static_cast<float>(max_q);
    sub_min[j] = -lo;
    max_scale = std::max(max_scale, sub_scale[j]);
    max_min = std::max(max_min, sub_min[j]);
  }
  d_bits = fp32_to_fp16(max_scale / 63.0f);
  dmin_bits = fp32_to_fp16(max_min / 63.0f);
  const float d = fp16_to_fp32(d_bits), dmin = fp16_to_fp32(dmin_bits);
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>(round_clamped(sub_scale[j] * inverse_or_zero(d), 0, 63));
    mn[j] = static_cast<uint8_t>(round_clamped(sub_min[j] * inverse_or_zero(dmin), 0, 63));
    const float scale = d * sc[j], offset = dmin * mn[j], inv = inverse_or_zero(scale);
    for (int l = 0; l < 32; ++l) q[32 * j + l] = static_cast<uint8_t>(round_clamped((x[32 * j + l] + offset) * inv, 0, max_q));
  }
  pack_k_scales(sc, mn, scales);
}

void encode(const float* x, BlockQ4_K& b) {
  uint8_t q[kQK];
  encode_k(x, 15, b.d, b.dmin, b.scales, q);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
}

void encode(const float* x, BlockQ5_K& b) {
  uint8_t q[kQK];
  encode_k(x, 31, b.d, b.dmin, b.scales, q);
  std::memset(b.qh, 0, sizeof(b.qh));
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      const uint8_t lo = q[64 * c + l], hi = q[64 * c + 32 + l];
      b.qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      b.qh[l] = static_cast<uint8_t>(b.qh[l] | (((lo >> 4) & 1) << (2 * c)) | (((hi >> 4) & 1) << (2 * c + 1)));
    }
}

// Q6_K: sub-blocks of 16 map their largest magnitude to 31; the sixteen sub-scales are
// quantized to int8 against d = max scale / 127.
void encode(const float* x, BlockQ6_K& b) {
  float sub_scale[16], max_scale = 0.0f;
  for (int g = 0; g < 16; ++g) {
    float amax = 0.0f;
    for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * g + l]));
    sub_scale[g] = amax / 31.0f;
    max_scale = std::max(max_scale, sub_scale[g]);
  }
  b.d = fp32_to_fp16(max_scale / 127.0f);
  const float d = fp16_to_fp32(b.d);
  uint8_t q[kQK];
  for (int g = 0; g < 16; ++g) {
    b.scales[g] = static_cast<int8_t>(round_clamped(sub_scale[g] * inverse_or_zero(d), 0, 127));
    const float inv = inverse_or_zero(d * b.scales[g]);
    for (int l = 0; l < 16; ++l) q[16 * g + l] = static_cast<uint8_t>(round_clamped(x[16 * g + l] * inv, -32, 31) + 32);
  }
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* qq = q + 128 * h + l;
      b.ql[64 * h + l] = static_cast<uint8_t>((qq[0] & 0xF) | ((qq[64] & 0xF) << 4));
      b.ql[64 * h + 32 + l] = static_cast<uint8_t>((qq[32] & 0xF) | ((qq[96] & 0xF) << 4));
      b.qh[32 * h + l] = static_cast<uint8_t>((qq[0] >> 4) | ((qq[32] >> 4) << 2) | ((qq[64] >> 4) << 4) | ((qq[96] >> 4) << 6));
    }
}

template <typename Block, int kBlock>
void encode_row(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<Block*>(dst);
  for (int64_t b = 0; b < n / kBlock; ++b) encode(src + b * kBlock, blocks[b]);
}

}  // namespace

void quantize_blocks(DType t, const float* src, void* dst, int64_t n) {
  switch (t) {
    case DType::Q8_0: return encode_row<BlockQ8_0, kQ32>(src, dst, n);
    case DType::Q4_0: return encode_row<BlockQ4_0, kQ32>(src, dst, n);
    case DType::Q4_1: return encode_row<BlockQ4_1, kQ32>(src, dst, n);
    case DType::Q5_0: return encode_row<BlockQ5_0, kQ32>(src, dst, n);
    case DType::Q5_1: return encode_row<BlockQ5_1, kQ32>(src, dst, n);
    case DType::Q4_K: return encode_row<BlockQ4_K, kQK>(src, dst, n);
    case DType::Q5_K: return encode_row<BlockQ5_K, kQK>(src, dst, n);
    case DType::Q6_K: return encode_row<BlockQ6_K, kQK>(src, dst, n);
    default: break;
  }
  throw Error("quantize_row: " + std::string(dtype_name(t)) + " is not a block-quantized dtype");
}

}  // namespace strata::cpu
