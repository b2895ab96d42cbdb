// The vectorised inner loops (generic, AVX2, AVX-512 tables, whichever this CPU runs)
// against double-precision references, over lengths that hit every tail case.
#include <cmath>
#include <limits>
#include <vector>

#include "core/half.h"
#include "kernels/cpu/vector_ops.h"
#include "test_cpu_ops_util.h"

namespace strata {
namespace {

std::vector<const cpu::VectorOps*> available_tables() {
  std::vector<const cpu::VectorOps*> tables{&cpu::vector_ops_generic()};
  if (const auto* t = cpu::vector_ops_avx2()) tables.push_back(t);
  if (const auto* t = cpu::vector_ops_avx512()) tables.push_back(t);
  return tables;
}

const std::vector<int64_t> kLengths = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100, 128, 257};

std::vector<float> random_vector(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::vector<float> v(static_cast<size_t>(n));
  test::fill_random(v.data(), n, seed, lo, hi);
  return v;
}

std::vector<uint16_t> to_f16(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = fp32_to_fp16(v[i]);
  return h;
}

TEST(CpuVectorOps, ChosenTableIsTheBestAvailable) {
  const auto tables = available_tables();
  EXPECT_EQ(&cpu::vector_ops(), tables.back());
  std::printf("vector ops in use: %s\n", cpu::vector_ops().name);
}

TEST(CpuVectorOps, DotProducts) {
  for (const auto* ops : available_tables())
    for (int64_t n : kLengths) {
      const auto a = random_vector(n, 1), b = random_vector(n, 2);
      const auto b16 = to_f16(b);
      double ref32 = 0, ref16 = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        ref32 += double(a[i]) * b[i];
        ref16 += double(a[i]) * fp16_to_fp32(b16[i]);
      }
      EXPECT_TRUE(test::near(ops->dot_f32(a.data(), b.data(), n), ref32, 1e-5, 1e-5)) << ops->name << " n=" << n;
      EXPECT_TRUE(test::near(ops->dot_f16(a.data(), b16.data(), n), ref16, 1e-5, 1e-5)) << ops->name << " n=" << n;
    }
}

TEST(CpuVectorOps, ScaleAdd) {
  for (const auto* ops : available_tables())
    for (int64_t n : kLengths) {
      const auto v = random_vector(n, 3), start = random_vector(n + 1, 4);
      const auto v16 = to_f16(v);
      auto acc32 = start, acc16 = start;  // one element past n must stay untouched
      ops->scale_add_f32(acc32.data(), 0.75f, v.data(), -1.5f, n);
      ops->scale_add_f16(acc16.data(), 0.75f, v16.data(), -1.5f, n);
      for (int64_t i = 0; i < n; ++i) {
        const size_t k = static_cast<size_t>(i);
        ASSERT_TRUE(test::near(acc32[k], start[k] * 0.75 - 1.5 * v[k], 1e-6, 1e-6)) << ops->name << " n=" << n;
        ASSERT_TRUE(test::near(acc16[k], start[k] * 0.75 - 1.5 * fp16_to_fp32(v16[k]), 1e-6, 1e-6)) << ops->name;
      }
      EXPECT_EQ(acc32[static_cast<size_t>(n)], start[static_cast<size_t>(n)]) << ops->name << " n=" << n;
      EXPECT_EQ(acc16[static_cast<size_t>(n)], start[static_cast<size_t>(n)]) << ops->name << " n=" << n;
    }
}

TEST(CpuVectorOps, RowsOfACacheChunk) {
  for (const auto* ops : available_tables())
    for (int64_t n : kLengths)
      for (int64_t count : {1, 5, 16}) {
        const int64_t stride = n + 3;  // rows of n elements inside wider cache rows
        const auto q = random_vector(n, 11), rows = random_vector(stride * count, 12), w = random_vector(count, 13);
        const auto rows16 = to_f16(rows);
        std::vector<float> s32(static_cast<size_t>(count)), s16(static_cast<size_t>(count));
        ops->dot_rows_f32(q.data(), rows.data(), stride, count, n, s32.data());
        ops->dot_rows_f16(q.data(), rows16.data(), stride, count, n, s16.data());
        const auto start = random_vector(n + 1, 14);
        auto acc32 = start, acc16 = start;
        ops->accumulate_rows_f32(acc32.data(), rows.data(), stride, w.data(), count, n);
        ops->accumulate_rows_f16(acc16.data(), rows16.data(), stride, w.data(), count, n);
        for (int64_t j = 0; j < count; ++j) {
          double r32 = 0, r16 = 0;
          for (int64_t i = 0; i < n; ++i) {
            const size_t k = static_cast<size_t>(j * stride + i);
            r32 += double(q[static_cast<size_t>(i)]) * rows[k];
            r16 += double(q[static_cast<size_t>(i)]) * fp16_to_fp32(rows16[k]);
          }
          ASSERT_TRUE(test::near(s32[static_cast<size_t>(j)], r32, 1e-5, 1e-5)) << ops->name << " n=" << n;
          ASSERT_TRUE(test::near(s16[static_cast<size_t>(j)], r16, 1e-5, 1e-5)) << ops->name << " n=" << n;
        }
        for (int64_t i = 0; i < n; ++i) {
          double r32 = start[static_cast<size_t>(i)], r16 = r32;
          for (int64_t j = 0; j < count; ++j) {
            const size_t k = static_cast<size_t>(j * stride + i);
            r32 += double(w[static_cast<size_t>(j)]) * rows[k];
            r16 += double(w[static_cast<size_t>(j)]) * fp16_to_fp32(rows16[k]);
          }
          ASSERT_TRUE(test::near(acc32[static_cast<size_t>(i)], r32, 1e-5, 1e-5)) << ops->name << " n=" << n << " count=" << count;
          ASSERT_TRUE(test::near(acc16[static_cast<size_t>(i)], r16, 1e-5, 1e-5)) << ops->name << " n=" << n << " count=" << count;
        }
        EXPECT_EQ(acc32.back(), start.back()) << ops->name;
        EXPECT_EQ(acc16.back(), start.back()) << ops->name;
      }
}

TEST(CpuVectorOps, SiluMulAndExp) {
  for (const auto* ops : available_tables())
    for (int64_t n : kLengths) {
      const auto gate = random_vector(n, 5, -30.f, 30.f), up = random_vector(n, 6);
      std::vector<float> y(static_cast<size_t>(n) + 1, 7.f);
      ops->silu_mul(y.data(), gate.data(), up.data(), n);
      for (size_t i = 0; i < gate.size(); ++i) {
        const double g = gate[i];
        ASSERT_TRUE(test::near(y[i], g / (1 + std::exp(-g)) * up[i], 1e-6, 2e-6)) << ops->name << " g=" << g;
      }
      EXPECT_EQ(y.back(), 7.f);
      auto x = random_vector(n + 1, 7, -20.f, 5.f);
      const auto before = x;
      const float sum = ops->exp_shift_sum(x.data(), 3.f, n);
      double ref_sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        const size_t k = static_cast<size_t>(i);
        const double e = std::exp(double(before[k]) - 3.0);
        ref_sum += e;
        ASSERT_TRUE(test::near(x[k], e, 1e-30, 2e-6)) << ops->name << " x=" << before[k];
      }
      EXPECT_TRUE(test::near(sum, ref_sum, 0, 2e-6)) << ops->name;
      EXPECT_EQ(x.back(), before.back());
    }
}

TEST(CpuVectorOps, F32ToF16RoundsLikeTheScalarConversion) {
  for (const auto* ops : available_tables())
    for (int64_t n : kLengths) {
      auto src = random_vector(n, 8, -70000.f, 70000.f);
      if (n > 3) src[2] = 1e-6f;  // a subnormal half
      std::vector<uint16_t> dst(static_cast<size_t>(n) + 1, 0xabcd);
      ops->f32_to_f16(dst.data(), src.data(), n);
      for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(dst[i], fp32_to_fp16(src[i])) << ops->name << " " << src[i];
      EXPECT_EQ(dst.back(), 0xabcd);
    }
}

// The scalar definition, `if (x[i] > x[best]) best = i`: ties go to the first index, NaNs
// never win unless first. Rows with ties across lanes, NaNs, infinities and a vocabulary
// of 49,152.
TEST(CpuVectorOps, ArgmaxIsTheFirstIndexOfTheLargest) {
  const auto scalar = [](const std::vector<float>& x) {
    size_t best = 0;
    for (size_t i = 1; i < x.size(); ++i)
      if (x[i] > x[best]) best = i;
    return static_cast<int64_t>(best);
  };
  std::vector<int64_t> lengths = kLengths;
  lengths.push_back(49152);
  for (const auto* ops : available_tables())
    for (int64_t n : lengths) {
      if (n == 0) continue;
      for (int variant = 0; variant < 6; ++variant) {
        auto x = random_vector(n, 40 + variant, -4.f, 4.f);
        const float nan = std::numeric_limits<float>::quiet_NaN();
        if (variant == 1)
          for (auto& v : x) v = std::round(v);  // many ties
        if (variant == 2 && n > 5) x[static_cast<size_t>(n / 2)] = nan, x[static_cast<size_t>(n - 1)] = nan;
        if (variant == 3) x[0] = nan;
        if (variant == 4) std::fill(x.begin(), x.end(), -std::numeric_limits<float>::infinity());
        if (variant == 5 && n > 40) x[7] = x[33] = 100.f;  // equal maxima in different lanes
        ASSERT_EQ(ops->argmax(x.data(), n), scalar(x)) << ops->name << " n=" << n << " variant " << variant;
      }
    }
}

TEST(CpuVectorOps, F16ToF32IsExact) {
  for (const auto* ops : available_tables())
    for (int64_t n : kLengths) {
      std::vector<uint16_t> src(static_cast<size_t>(n));
      for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint16_t>((i * 40503u + 7u) & 0x7bffu) | (i % 3 == 0 ? 0x8000u : 0u);
      std::vector<float> dst(static_cast<size_t>(n) + 1, 12345.f);
      ops->f16_to_f32(dst.data(), src.data(), n);
      for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(dst[i], fp16_to_fp32(src[i])) << ops->name << " " << src[i];
      EXPECT_EQ(dst.back(), 12345.f);
    }
}

}  // namespace
}  // namespace strata
