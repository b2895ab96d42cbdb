#pragma once
// Helpers shared by the CPU op tests: seeded random tensors, a CPU backend, and element
// comparison against double-precision references.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/tensor.h"
#include "kernels/backend.h"

namespace strata::test {

// Uniform values in [lo, hi], never exactly zero (so a missed write cannot look right).
inline void fill_random(float* data, int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < n; ++i) {
    float v = dist(rng);
    data[i] = v == 0.f ? 0.5f : v;
  }
}

inline Tensor random_tensor(const Tensor::Shape& shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(shape, DType::F32);
  fill_random(t.data<float>(), t.numel(), seed, lo, hi);
  return t;
}

inline Tensor i32_vector(const std::vector<int32_t>& values) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::I32);
  for (size_t i = 0; i < values.size(); ++i) t.data<int32_t>()[i] = values[i];
  return t;
}

// Element (i, j) of a rank-2 f32 view.
inline float at2(const Tensor& t, int64_t i, int64_t j) { return t.data<float>()[i * t.stride(0) + j * t.stride(1)]; }
inline float at3(const Tensor& t, int64_t i, int64_t j, int64_t k) {
  return t.data<float>()[i * t.stride(0) + j * t.stride(1) + k * t.stride(2)];
}

// |actual - expected| <= atol + rtol * |expected|
inline ::testing::AssertionResult near(double actual, double expected, double atol, double rtol) {
  if (std::fabs(actual - expected) <= atol + rtol * std::fabs(expected)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << actual << " vs expected " << expected;
}

// Three threads even on small machines, so the parallel paths run.
inline std::unique_ptr<Backend> test_backend() { return make_cpu_backend(CpuBackendOptions{3}); }

}  // namespace strata::test
