#pragma once
// Helpers of the CUDA tests: a fixture that skips without a GPU, random host tensors,
// NaN-poisoned device outputs, and the relative error ‖out − ref‖ / ‖ref‖.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <cstring>
#include <limits>
#include <memory>
#include <random>

#include "core/tensor.h"
#include "kernels/backend.h"
#include "kernels/cpu/quant.h"
#include "kernels/cuda/cuda_backend.h"
#include "model/random_model.h"

#include <unistd.h>

namespace strata::cuda_test {

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA GPU present";
    gpu = make_cuda_backend({});
    cpu = make_cpu_backend(CpuBackendOptions{2});
  }
  std::unique_ptr<Backend> gpu, cpu;
};

// A backend without the decode-batch kernels (CudaBackendOptions::plain_kernels), for the
// tests that compare the two.
inline std::unique_ptr<Backend> plain_backend() {
  CudaBackendOptions options;
  options.plain_kernels = true;
  return make_cuda_backend(options);
}

inline Tensor random_host(const Tensor::Shape& shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// A dense host copy that owns its memory (Tensor::contiguous() returns the same storage
// for a dense tensor, and a reference computed in place would change the input too).
inline Tensor host_copy(const Tensor& t) {
  const Tensor dense = t.contiguous();
  Tensor out = Tensor::empty(dense.shape(), dense.dtype());
  std::memcpy(out.raw_data(), dense.raw_data(), dense.nbytes());
  return out;
}

// A device tensor filled with NaN, so that any element a kernel fails to write shows.
inline Tensor poisoned(Backend& gpu, const Tensor::Shape& shape) {
  Tensor host = Tensor::empty(shape, DType::F32);
  for (int64_t i = 0; i < host.numel(); ++i) host.data<float>()[i] = std::numeric_limits<float>::quiet_NaN();
  return gpu.upload(host);
}

inline Tensor i32_host(const std::vector<int32_t>& values) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::I32);
  for (size_t i = 0; i < values.size(); ++i) t.data<int32_t>()[i] = values[i];
  return t;
}

// ‖a − b‖ / ‖b‖ over dense f32 host tensors of equal size; infinity if `a` holds a NaN.
inline double relative_error(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.numel(), b.numel());
  double diff = 0, ref = 0;
  for (int64_t i = 0; i < std::min(a.numel(), b.numel()); ++i) {
    const double x = a.data<float>()[i], y = b.data<float>()[i];
    if (std::isnan(x)) return std::numeric_limits<double>::infinity();
    diff += (x - y) * (x - y);
    ref += y * y;
  }
  return std::sqrt(diff / std::max(ref, 1e-300));
}

inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, ref = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (std::isnan(a[i])) return std::numeric_limits<double>::infinity();
    diff += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
    ref += double{b[i]} * b[i];
  }
  return std::sqrt(diff / std::max(ref, 1e-300));
}

// A host weight of `dtype` and its exact f32 values.
struct HostWeight {
  Tensor tensor;
  std::vector<float> values;
};

inline HostWeight make_weight(DType dtype, int64_t n, int64_t k, uint32_t seed) {
  const Tensor source = random_host({n, k}, seed, -0.5f, 0.5f);
  HostWeight w{Tensor::empty({n, k}, dtype), std::vector<float>(static_cast<size_t>(n * k))};
  const int64_t row_bytes = dtype_row_bytes(dtype, k);
  for (int64_t r = 0; r < n; ++r) {
    auto* dst = static_cast<uint8_t*>(w.tensor.raw_data()) + r * row_bytes;
    cpu::quantize_row(dtype, source.data<float>() + r * k, dst, k);
    cpu::dequantize_row(dtype, dst, w.values.data() + r * k, k);
  }
  return w;
}

// The tiny random-weight Llama (seed 7) in `dtype`, written once per process (CTest runs
// tests as parallel processes: one rewriting a file another has mapped would kill it).
inline std::string tiny_random_model(DType dtype) {
  namespace fs = std::filesystem;
  const auto dir = fs::path(STRATA_BINARY_DIR) / "test_tmp" / ("cuda-tiny-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = dir / ("tiny-llama-" + std::string(dtype_name(dtype)) + "-7.gguf");
  if (!fs::exists(path)) {
    RandomModelOptions options;
    options.dtype = dtype;
    options.seed = 7;
    write_random_gguf(random_model_config("llama", "tiny"), options, path.string());
  }
  return path.string();
}

}  // namespace strata::cuda_test
