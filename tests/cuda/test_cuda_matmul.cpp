// CUDA matmul against an fp64 reference over the dequantized weights, for every weight
// dtype, at batch sizes on both sides of the GEMV / tensor-core switch, with strided
// activation and output rows. GEMV keeps f32 activations (tight tolerance); the
// tensor-core path rounds activations to bf16/f16 (METHOD.md: 1e-3..1e-2).
#include "cuda_test_util.h"
#include <cstring>

#include "kernels/cpu/quant.h"

namespace strata::cuda_test {
namespace {

class CudaMatmul : public CudaTest {};

// A host weight of `dtype` and its exact f32 values.
struct HostWeight {
  Tensor tensor;
  std::vector<float> values;
};

HostWeight make_weight(DType dtype, int64_t n, int64_t k, uint32_t seed) {
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

std::vector<float> reference(const Tensor& x, const std::vector<float>& w, int64_t n) {
  const int64_t m = x.size(0), k = x.size(1);
  std::vector<float> y(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t c = 0; c < k; ++c) s += double{x.data<float>()[i * x.stride(0) + c]} * w[static_cast<size_t>(j * k + c)];
      y[static_cast<size_t>(i * n + j)] = static_cast<float>(s);
    }
  return y;
}

std::vector<float> dense_rows(const Tensor& host_view) {
  std::vector<float> out;
  for (int64_t i = 0; i < host_view.size(0); ++i)
    for (int64_t j = 0; j < host_view.size(1); ++j) out.push_back(host_view.data<float>()[i * host_view.stride(0) + j]);
  return out;
}

TEST_F(CudaMatmul, EveryWeightTypeAtEveryBatchSize) {
  uint32_t seed = 100;
  const DType types[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q6_K};
  for (DType dtype : types) {
    for (auto [n, k] : {std::pair<int64_t, int64_t>{96, 256}, {1000, 512}}) {
      const HostWeight w = make_weight(dtype, n, k, seed++);
      const Tensor dw = gpu->upload(w.tensor);
      for (int64_t m : {1, 2, 3, 5, 8, 9, 64, 130}) {
        // Activations and outputs as strided row views, as the model's scratch slices are.
        const Tensor x_full = random_host({m, k + 8}, seed++);
        const Tensor x = x_full.slice(1, 0, k);
        const Tensor dx = gpu->upload(x_full).slice(1, 0, k);
        Tensor dy_full = poisoned(*gpu, {m, n + 4});
        Tensor dy = dy_full.slice(1, 0, n);
        gpu->matmul(dy, dx, dw);
        const Tensor y = gpu->download(dy);
        const bool exact_weights = dtype != DType::Q6_K;  // Q6_K runs as bf16 on the device
        const double tol = dtype == DType::F32 || (m <= 8 && exact_weights) ? 2e-5 : 1e-2;
        EXPECT_LT(relative_error(dense_rows(y), reference(x, w.values, n)), tol)
            << dtype_name(dtype) << " m=" << m << " n=" << n << " k=" << k;
        // The padding columns were never written.
        const Tensor full = gpu->download(dy_full);
        EXPECT_TRUE(std::isnan(full.data<float>()[n])) << "matmul wrote outside its output view";
      }
    }
  }
}

TEST_F(CudaMatmul, QuantizedWeightsRoundTripThroughDownload) {
  for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_1}) {
    const HostWeight w = make_weight(dtype, 7, 64, 7);
    const Tensor back = gpu->download(gpu->upload(w.tensor));
    ASSERT_EQ(back.nbytes(), w.tensor.nbytes());
    EXPECT_EQ(std::memcmp(back.raw_data(), w.tensor.raw_data(), back.nbytes()), 0) << dtype_name(dtype);
  }
}

TEST_F(CudaMatmul, EmbeddingOfEveryTableType) {
  uint32_t seed = 300;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q6_K}) {
    const int64_t vocab = 50, dim = 256;
    const HostWeight table = make_weight(dtype, vocab, dim, seed++);
    const std::vector<int32_t> ids = {3, 0, 49, 3, 17};
    Tensor dy = poisoned(*gpu, {5, dim});
    gpu->embedding(dy, gpu->upload(table.tensor), gpu->upload(i32_host(ids)));
    std::vector<float> expect;
    for (int32_t id : ids)
      expect.insert(expect.end(), table.values.begin() + id * dim, table.values.begin() + (id + 1) * dim);
    // Q6_K runs as bf16 on the device: exact only up to bf16 rounding.
    const double tol = dtype == DType::Q6_K ? 1e-2 : 1e-7;
    EXPECT_LT(relative_error(dense_rows(gpu->download(dy)), expect), tol) << dtype_name(dtype);
  }
}

}  // namespace
}  // namespace strata::cuda_test
