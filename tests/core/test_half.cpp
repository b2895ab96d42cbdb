#include "core/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

namespace strata {
namespace {

// Reference: the exact value of an IEEE half, from its fields, in double.
double half_value(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return mantissa ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

// Reference rounding: the nearest half by exhaustive comparison with its neighbours, ties to even.
uint16_t nearest_half(float f) {
  if (std::isnan(f)) return 0x7e00;
  const double x = f;
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(x);
  if (a >= 65520.0) return sign | 0x7c00;
  // Halves of one sign are ordered like their bit patterns: bisect for the neighbours.
  uint16_t lo = 0, hi = 0x7bff;
  while (lo < hi) {
    const uint16_t mid = static_cast<uint16_t>((lo + hi + 1) / 2);
    if (half_value(mid) <= a) lo = mid;
    else hi = static_cast<uint16_t>(mid - 1);
  }
  uint16_t best = lo;
  if (lo < 0x7bff) {
    const double below = a - half_value(lo), above = half_value(lo + 1) - a;
    if (above < below || (above == below && (lo & 1))) best = static_cast<uint16_t>(lo + 1);
  }
  return sign | best;
}

TEST(Half, Fp16ToFp32AllValues) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    const double ref = half_value(static_cast<uint16_t>(h));
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(f)) << h;
    } else {
      EXPECT_EQ(static_cast<double>(f), ref) << h;
      EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << h;
    }
  }
}

TEST(Half, Fp32ToFp16RoundTripsEveryHalf) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    if (((h >> 10) & 0x1f) == 31 && (h & 0x3ff)) continue;  // NaN payloads are not kept
    EXPECT_EQ(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))), h) << h;
  }
}

TEST(Half, Fp32ToFp16RoundsToNearestEven) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> exponent(-28.f, 17.f);
  for (int i = 0; i < 3000; ++i) {
    const float f = std::exp2(exponent(rng)) * (i % 2 ? -1.f : 1.f);
    EXPECT_EQ(fp32_to_fp16(f), nearest_half(f)) << f;
  }
  // Exact ties between neighbours, normal and subnormal.
  for (uint16_t h : {0x0001, 0x0002, 0x0003, 0x03ff, 0x0400, 0x3c00, 0x3c01, 0x7bfe}) {
    const float tie = static_cast<float>((half_value(h) + half_value(h + 1)) / 2);
    EXPECT_EQ(fp32_to_fp16(tie), nearest_half(tie)) << h;
  }
  EXPECT_EQ(fp32_to_fp16(65519.f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65520.f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(-INFINITY), 0xfc00);
  EXPECT_EQ(fp32_to_fp16(1e-9f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-0.f), 0x8000);
  EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(NAN))));
}

TEST(Half, Bf16) {
  EXPECT_EQ(bf16_to_fp32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_fp32(0xc000), -2.0f);
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(fp32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: rounds up to even.
  EXPECT_EQ(fp32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
  EXPECT_EQ(fp32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.f, 100.f);
  for (int i = 0; i < 1000; ++i) {
    const float f = dist(rng);
    const float r = bf16_to_fp32(fp32_to_bf16(f));
    EXPECT_LE(std::fabs(r - f), std::fabs(f) * 0x1p-8f) << f;
  }
}

}  // namespace
}  // namespace strata
