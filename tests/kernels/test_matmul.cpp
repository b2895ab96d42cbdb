// matmul against a double-precision reference that dequantizes the weights with
// dequantize_row and uses the exact f32 activations.
//
// Error bounds. Float weights: 1e-5 * sum|w x| (f32 accumulation). Quantized weights
// quantize each group of 32 activations to int16 with step d = amax/levels (levels =
// activation_levels(dtype): 32639, or 16383 for Q6_K), so each x
// carries an error of at most d/2, roughly uniform. The kernels multiply that error by
// the weight's integer part, whose magnitude is below 2 * max|w| of the group for the
// formats and quantizers used here; the test allows 8 standard deviations of the
// resulting sum: 8 * sqrt(sum_k (2 max|w|_g)^2 * d_g^2 / 12), plus the f32 term.
// A second test uses activations that int16 represents exactly (x = 2^e * integer with
// one |integer| = levels per group), where only the f32 term remains.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_internal.h"
#include "kernels/cpu/quant.h"

namespace strata::cpu {
namespace {

const std::vector<DType> kAllWeightTypes = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                                            DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                                            DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Row lengths per dtype: not multiples of 8 for float types, of 256 for 32-block types.
std::vector<int64_t> lengths_for(DType t) {
  const int64_t block = dtype_info(t).block_size;
  if (block == 1) return {7, 33, 200};
  if (block == 32) return {32, 96, 544};
  return {256, 768};
}

// Random weights (never zero) quantized to dtype, and their dequantized values.
struct Weights {
  Tensor packed;
  std::vector<float> values;  // n x k
};

Weights make_weights(DType t, int64_t n, int64_t k, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::vector<float> source(static_cast<size_t>(n * k));
  for (auto& v : source) v = normal(rng) + 0.01f;
  Weights w{Tensor::empty({n, k}, t), std::vector<float>(source.size())};
  auto* bytes = static_cast<uint8_t*>(w.packed.raw_data());
  const int64_t row_bytes = dtype_row_bytes(t, k);
  for (int64_t r = 0; r < n; ++r) {
    quantize_row(t, source.data() + r * k, bytes + r * row_bytes, k);
    dequantize_row(t, bytes + r * row_bytes, w.values.data() + r * k, k);
  }
  return w;
}

// x as a view with a row stride larger than k (padding columns filled with garbage).
// levels: the int16 range of exactly representable activations.
Tensor make_activations(int64_t m, int64_t k, bool exactly_representable, std::mt19937& rng, int levels = 32767) {
  Tensor storage = Tensor::empty({m, k + 5}, DType::F32);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> integer(-levels, levels);
  const float step = 1.0f / 8192;  // a power of two: every step * integer is exact in f32
  float* data = storage.data<float>();
  for (int64_t i = 0; i < m * (k + 5); ++i) data[i] = exactly_representable ? step * integer(rng) : normal(rng);
  if (exactly_representable)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t g = 0; g + 32 <= k; g += 32) data[r * (k + 5) + g] = -step * levels;  // group amax = levels steps
  return storage.slice(1, 0, k);
}

// int8: int8 activation groups (MatmulScratch::int8), with their larger rounding error.
// `out`, when given, receives the output.
void expect_matches_reference(MatmulIsa isa, DType t, int64_t m, int64_t n, int64_t k, bool exact_x, int threads,
                              bool int8 = false, Tensor* out = nullptr) {
  std::mt19937 rng(static_cast<unsigned>(m * 1000003 + n * 101 + k + static_cast<int>(t)));
  const Weights w = make_weights(t, n, k, rng);
  const int levels = int8 ? kInt8ActivationLevels : activation_levels(t);
  const Tensor x = make_activations(m, k, exact_x, rng, levels);
  Tensor y_storage = Tensor::empty({m, n + 3}, DType::F32);
  Tensor y = y_storage.slice(1, 0, n);
  ThreadPool pool(threads);
  MatmulScratch scratch;
  scratch.int8 = int8;
  matmul_with(isa, pool, scratch, y, x, w.packed);
  if (out) *out = y_storage;
  const bool quantized = dtype_info(t).quantized;
  for (int64_t r = 0; r < m; ++r) {
    const float* xr = x.data<float>() + r * x.stride(0);
    for (int64_t c = 0; c < n; ++c) {
      const float* wr = w.values.data() + c * k;
      double ref = 0, magnitude = 0, variance = 0;
      for (int64_t i = 0; i < k; ++i) {
        ref += static_cast<double>(wr[i]) * xr[i];
        magnitude += std::fabs(static_cast<double>(wr[i]) * xr[i]);
      }
      for (int64_t g = 0; quantized && !exact_x && g < k; g += 32) {
        double x_max = 0, w_max = 0;
        for (int64_t i = g; i < g + 32; ++i) x_max = std::max<double>(x_max, std::fabs(xr[i])), w_max = std::max<double>(w_max, std::fabs(wr[i]));
        variance += 32 * (2 * w_max) * (2 * w_max) * (x_max / levels) * (x_max / levels) / 12;
      }
      const double tolerance = 1e-5 * magnitude + 8 * std::sqrt(variance) + 1e-6;
      const float got = y.data<float>()[r * y.stride(0) + c];
      ASSERT_NEAR(got, ref, tolerance) << dtype_name(t) << " m=" << m << " n=" << n << " k=" << k << " at (" << r << ", " << c << ")";
    }
  }
}

void check_all_shapes(MatmulIsa isa, bool exact_x) {
  for (DType t : kAllWeightTypes)
    for (int64_t m : {1, 3, 17, 64})
      for (int64_t n : {1, 7, 33})
        for (int64_t k : lengths_for(t)) expect_matches_reference(isa, t, m, n, k, exact_x, 2);
}

// Every kernel family this CPU supports (AVX-512, AVX2, generic).
TEST(Matmul, MatchesReferenceWithRandomActivations) {
  for (MatmulIsa isa : supported_matmul_isas()) check_all_shapes(isa, false);
}
TEST(Matmul, MatchesReferenceWithExactInt16Activations) {
  for (MatmulIsa isa : supported_matmul_isas()) check_all_shapes(isa, true);
}

// The AVX-512 kernels compute the AVX2 kernels' exact int32 group dots and the same f32
// update, so for block-quantized weights the two families agree bit for bit, at every M
// (decode, batch and panel paths on the AVX2 side; register and memory tiles here) and
// with activations at the extremes of the int16 range (where the byte split is tight).
TEST(Matmul, Avx512QuantizedEqualsAvx2BitForBit) {
  const auto isas = supported_matmul_isas();
  if (std::find(isas.begin(), isas.end(), MatmulIsa::Avx512) == isas.end()) GTEST_SKIP() << "no AVX-512 VNNI";
  std::mt19937 rng(11);
  for (DType t : kAllWeightTypes) {
    if (!dtype_info(t).quantized) continue;
    for (int64_t m : {1, 2, 4, 5, 17, 40, 300})
      for (bool exact : {false, true}) {
        const int64_t n = 45, k = dtype_info(t).block_size == 32 ? 608 : 512;
        const Weights w = make_weights(t, n, k, rng);
        const Tensor x = make_activations(m, k, exact, rng, activation_levels(t));
        ThreadPool pool(2);
        Tensor a = Tensor::empty({m, n}, DType::F32), b = Tensor::empty({m, n}, DType::F32);
        matmul_with(MatmulIsa::Avx512, pool, a, x, w.packed);
        matmul_with(MatmulIsa::Avx2, pool, b, x, w.packed);
        for (int64_t i = 0; i < m * n; ++i)
          ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]) << dtype_name(t) << " m=" << m << " exact=" << exact << " at " << i;
      }
  }
}

// Every thread count gives bit-identical output (work is split by whole columns).
// Also covers the split of the columns: one share per thread for one row, chunks taken in
// turn for more (batch kernel at 17 rows, panel kernel at 40).
TEST(Matmul, ThreadCountDoesNotChangeResults) {
  std::mt19937 rng(3);
  for (DType t : kAllWeightTypes)
    for (int64_t m : {1, 17, 40}) {
      const int64_t n = 67, k = dtype_info(t).block_size == 1 ? 120 : 512;
      const Weights w = make_weights(t, n, k, rng);
      const Tensor x = make_activations(m, k, false, rng);
      std::vector<std::vector<float>> outputs;
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        Tensor y = Tensor::empty({m, n}, DType::F32);
        matmul(pool, y, x, w.packed);
        outputs.emplace_back(y.data<float>(), y.data<float>() + m * n);
      }
      EXPECT_EQ(outputs[0], outputs[1]) << dtype_name(t) << " m=" << m;
      EXPECT_EQ(outputs[0], outputs[2]) << dtype_name(t) << " m=" << m;
    }
}

// A row's output is bit-identical whether it is multiplied alone (decode) or inside a
// batch of any size (prefill, batched decode): greedy decoding must not depend on the batch.
TEST(Matmul, RowResultsDoNotDependOnBatchSize) {
  std::mt19937 rng(5);
  // Enough rows for the panel kernels (prompts); the parts take the decode kernel (1 row)
  // and the batch kernel (fewer than kPanelMinRows rows, in chunks of 16).
  const int64_t total = kPanelMinRows + 7;
  for (MatmulIsa isa : supported_matmul_isas())
    for (DType t : kAllWeightTypes) {
      const int64_t n = 37, k = dtype_info(t).block_size == 1 ? 200 : 512;
      const Weights w = make_weights(t, n, k, rng);
      const Tensor x = make_activations(total, k, false, rng);
      ThreadPool pool(2);
      Tensor all = Tensor::empty({total, n}, DType::F32);
      matmul_with(isa, pool, all, x, w.packed);
      for (int64_t rows : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{5}, int64_t{19}, kPanelMinRows - 1}) {
        const int64_t first = total - rows;  // the last rows, so that every edge tile is covered
        Tensor part = Tensor::empty({rows, n}, DType::F32);
        matmul_with(isa, pool, part, x.slice(0, first, total), w.packed);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < n; ++c)
            ASSERT_EQ(part.data<float>()[r * n + c], all.data<float>()[(first + r) * n + c])
                << dtype_name(t) << " rows=" << rows << " at (" << r << ", " << c << ")";
      }
    }
}

// matmul_many (q/k/v, gate/up in one job) gives every output bit for bit what matmul
// gives, including a group that mixes formats whose activations are prepared differently.
TEST(Matmul, ManyEqualsOneAtATime) {
  std::mt19937 rng(9);
  const std::vector<std::vector<DType>> groups = {
      {DType::Q4_1, DType::Q4_1, DType::Q4_1}, {DType::F16, DType::F16}, {DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::F32}};
  for (const auto& types : groups)
    for (int64_t m : {1, 6, 17})
      for (int threads : {1, 2, 3}) {
        const int64_t k = 512;
        ThreadPool pool(threads);
        const Tensor x = make_activations(m, k, false, rng);
        std::vector<Weights> weights;
        std::vector<Tensor> alone, together;
        for (size_t i = 0; i < types.size(); ++i) {
          const int64_t n = 24 + 13 * static_cast<int64_t>(i);  // not multiples of 8
          weights.push_back(make_weights(types[i], n, k, rng));
          alone.push_back(Tensor::empty({m, n}, DType::F32));
          together.push_back(Tensor::empty({m, n}, DType::F32));
          matmul(pool, alone.back(), x, weights.back().packed);
        }
        std::vector<MatmulTarget> targets;
        for (size_t i = 0; i < types.size(); ++i) targets.push_back({&together[i], &weights[i].packed});
        matmul_many(pool, x, targets);
        for (size_t i = 0; i < types.size(); ++i)
          for (int64_t j = 0; j < alone[i].numel(); ++j)
            ASSERT_EQ(together[i].data<float>()[j], alone[i].data<float>()[j])
                << dtype_name(types[i]) << " in group " << i << " m=" << m << " threads=" << threads << " at " << j;
      }
}

// matmul_accumulate (the residual add fused into the product) gives y + (x · wᵀ) exactly
// as matmul then add: every family, every kind of tile, tiled weights included.
TEST(Matmul, AccumulateEqualsProductThenAdd) {
  std::mt19937 rng(13);
  for (DType t : kAllWeightTypes)
    for (int64_t m : {1, 3, 6, 40}) {
      const int64_t n = 37, k = dtype_info(t).block_size == 1 ? 200 : 512;
      const Weights w = make_weights(t, n, k, rng);
      const Tensor x = make_activations(m, k, false, rng);
      const Tensor base = make_activations(m, n, false, rng);
      ThreadPool pool(2);
      Tensor product = Tensor::empty({m, n}, DType::F32);
      matmul(pool, product, x, w.packed);
      Tensor y = Tensor::empty({m, n}, DType::F32);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < n; ++c) y.data<float>()[r * n + c] = base.data<float>()[r * base.stride(0) + c];
      matmul_accumulate(pool, y, x, w.packed);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < n; ++c)
          ASSERT_EQ(y.data<float>()[r * n + c], base.data<float>()[r * base.stride(0) + c] + product.data<float>()[r * n + c])
              << dtype_name(t) << " m=" << m << " at (" << r << ", " << c << ")";
    }
}

// A scratch reserved for the largest step is used as it is by every product up to that
// size (no reallocation: a server's memory after a long prompt is its memory at start, the
// bug a burst with a 1,000-token prompt showed) and gives the results of a fresh scratch.
TEST(Matmul, ReservedScratchServesTheLargestStepWithoutGrowing) {
  std::mt19937 rng(17);
  ThreadPool pool(2);
  for (DType t : {DType::Q4_1, DType::Q8_0, DType::F16}) {
    const int64_t rows = 40, k = 512, n = 24;
    MatmulScratch scratch;
    scratch.reserve(rows, k, t);
    scratch.reserve(rows, 256, t);  // a shorter row never shrinks it
    const size_t reserved = scratch.bytes();
    ASSERT_GT(reserved, static_cast<size_t>(rows * k)) << dtype_name(t);
    const Weights w = make_weights(t, n, k, rng);
    for (int64_t m : {int64_t{1}, int64_t{7}, rows}) {
      const Tensor x = make_activations(m, k, false, rng);
      Tensor fresh = Tensor::empty({m, n}, DType::F32), kept = Tensor::empty({m, n}, DType::F32);
      matmul(pool, fresh, x, w.packed);
      const void* before = dtype_info(t).quantized ? static_cast<const void*>(scratch.q.data()) : scratch.xf.data();
      matmul(pool, scratch, kept, x, w.packed);
      const void* after = dtype_info(t).quantized ? static_cast<const void*>(scratch.q.data()) : scratch.xf.data();
      EXPECT_EQ(scratch.bytes(), reserved) << dtype_name(t) << " m=" << m;
      EXPECT_EQ(before, after) << dtype_name(t) << " m=" << m;
      for (int64_t j = 0; j < fresh.numel(); ++j)
        ASSERT_EQ(kept.data<float>()[j], fresh.data<float>()[j]) << dtype_name(t) << " m=" << m << " at " << j;
    }
  }
}

// Int8 activation groups (CpuBackendOptions::int8_activations): within their rounding
// error of the exact product (exactly the product where the activations are representable)
// in every kernel family, and the AVX-512 kernels (which then read one byte of each) give
// the AVX2 kernels' outputs bit for bit, as with int16 groups.
TEST(Matmul, Int8ActivationsMatchReferenceAndAvx512EqualsAvx2) {
  const auto isas = supported_matmul_isas();
  const bool both = std::find(isas.begin(), isas.end(), MatmulIsa::Avx512) != isas.end() &&
                    std::find(isas.begin(), isas.end(), MatmulIsa::Avx2) != isas.end();
  for (DType t : kAllWeightTypes) {
    if (!dtype_info(t).quantized) continue;
    for (int64_t m : {1, 6, 33})
      for (bool exact : {false, true}) {
        const int64_t k = lengths_for(t).back(), n = 37;
        Tensor avx512, avx2;
        for (MatmulIsa isa : isas)
          expect_matches_reference(isa, t, m, n, k, exact, 2, /*int8=*/true,
                                   isa == MatmulIsa::Avx512 ? &avx512 : isa == MatmulIsa::Avx2 ? &avx2 : nullptr);
        if (!exact && isas.front() != MatmulIsa::Generic) {  // the mode takes effect: int16 groups round differently
          Tensor int16;
          expect_matches_reference(isas.front(), t, m, n, k, exact, 2, /*int8=*/false, &int16);
          Tensor& int8 = isas.front() == MatmulIsa::Avx512 ? avx512 : avx2;
          int differ = 0;
          for (int64_t r = 0; r < m; ++r)
            for (int64_t c = 0; c < n; ++c)
              differ += int8.data<float>()[r * int8.stride(0) + c] != int16.data<float>()[r * int16.stride(0) + c];
          EXPECT_GT(differ, 0) << dtype_name(t) << " m=" << m;
        }
        if (!both) continue;
        for (int64_t r = 0; r < m; ++r)
          for (int64_t c = 0; c < n; ++c)
            ASSERT_EQ(avx512.data<float>()[r * avx512.stride(0) + c], avx2.data<float>()[r * avx2.stride(0) + c])
                << dtype_name(t) << " m=" << m << " at (" << r << ", " << c << ")";
      }
  }
}

// With int8 groups a row's rounding errors are large where one outlier sets a group's step
// (SmolLM2's activations have such channels), so the product must be that of the rounded
// row (scale * q) with the whole dequantized weight, offsets included, as llama.cpp's Q8_1
// sums make it. Taking the offsets against the exact sum instead fell to 84.1% top-1
// agreement with transformers (SmolLM2GoldenInt8); here it misses the rounded row's product
// by the offset times the group's summed rounding error, far outside f32 rounding.
TEST(Matmul, Int8ActivationsMeetTheWeightsOffsetsAsRounded) {
  const int64_t m = 3, n = 24, k = 512;
  for (DType t : {DType::Q4_1, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q8_0, DType::Q4_0}) {
    std::mt19937 rng(static_cast<unsigned>(t) * 31 + 5);
    const Weights w = make_weights(t, n, k, rng);
    std::uniform_real_distribution<float> small(0.05f, 0.35f);  // below half of an outlier group's step
    Tensor x = Tensor::empty({m, k}, DType::F32);
    for (int64_t i = 0; i < m * k; ++i) x.data<float>()[i] = i % 32 == 5 ? 60.0f : small(rng);
    // The rounded row, as every ISA rounds it (the AVX2/AVX-512 quantizers equal the generic one).
    std::vector<int16_t> q(static_cast<size_t>(k));
    std::vector<float> scale(static_cast<size_t>(k / 32)), sum(static_cast<size_t>(k / 32));
    for (MatmulIsa isa : supported_matmul_isas()) {
      Tensor y = Tensor::empty({m, n}, DType::F32);
      ThreadPool pool(2);
      MatmulScratch scratch;
      scratch.int8 = true;
      matmul_with(isa, pool, scratch, y, x, w.packed);
      for (int64_t r = 0; r < m; ++r) {
        quantize_activation_row_generic(x.data<float>() + r * k, k, kInt8ActivationLevels, q.data(), scale.data(), sum.data());
        for (int64_t c = 0; c < n; ++c) {
          double ref = 0, magnitude = 0;
          for (int64_t i = 0; i < k; ++i) {
            const double xi = static_cast<double>(scale[static_cast<size_t>(i / 32)]) * q[static_cast<size_t>(i)];
            ref += static_cast<double>(w.values[static_cast<size_t>(c * k + i)]) * xi;
            magnitude += std::fabs(static_cast<double>(w.values[static_cast<size_t>(c * k + i)]) * xi);
          }
          ASSERT_NEAR(y.data<float>()[r * n + c], ref, 1e-5 * magnitude + 1e-6)
              << dtype_name(t) << " " << matmul_isa_name(isa) << " at (" << r << ", " << c << ")";
        }
      }
    }
  }
}

TEST(Matmul, LargeShapeMatchesReference) {
  expect_matches_reference(best_matmul_isa(), DType::Q4_1, 70, 130, 1536, false, 2);
  expect_matches_reference(best_matmul_isa(), DType::F16, 70, 130, 576, false, 2);
}

TEST(Matmul, RejectsMismatchedShapes) {
  ThreadPool pool(1);
  Tensor x = Tensor::empty({2, 64}, DType::F32), w = Tensor::empty({3, 32}, DType::Q8_0);
  Tensor y = Tensor::empty({2, 3}, DType::F32);
  EXPECT_THROW(matmul(pool, y, x, w), Error);
}

}  // namespace
}  // namespace strata::cpu
