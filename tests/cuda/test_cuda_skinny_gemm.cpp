// The skinny GEMM (products of 9 to 128 activation rows on the tensor cores, skinny_gemm.cu)
// against an fp64 product of the same f16/bf16 operands, on fresh random inputs: m on and
// off its 16/32/64/128-row variants, weights of rows on and off its 128-row tiles, k from
// one 64-column stage to 4,096, split counts that divide k evenly and not, y a strided view
// (poisoned, or holding a residual to accumulate into). Every output is written, nothing
// beside it, and a second run gives the same bits (the splits are added in a fixed order).
#include <cuda_runtime.h>

#include <cstring>
#include <limits>
#include <random>

#include "cuda_test_util.h"
#include "kernels/cuda/launch.h"

namespace strata::cuda_test {
namespace {

using namespace strata::cuda;

class CudaSkinnyGemm : public CudaTest {};

constexpr float kPad = 12345.f;  // the column past each output row: never written

// Device memory for the kernel's split workspace, freed at the end of the test.
struct DeviceBuffer {
  explicit DeviceBuffer(size_t bytes) {
    EXPECT_EQ(cudaMalloc(&data, std::max<size_t>(bytes, 256)), cudaSuccess);
    EXPECT_EQ(cudaMemset(data, 0, std::max<size_t>(bytes, 256)), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(data); }
  void* data = nullptr;
};

std::vector<double> fp64_product(const std::vector<float>& x, const std::vector<float>& w, int64_t m, int64_t n,
                                 int64_t k) {
  std::vector<double> y(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t c = 0; c < k; ++c) s += double{x[static_cast<size_t>(i * k + c)]} * w[static_cast<size_t>(j * k + c)];
      y[static_cast<size_t>(i * n + j)] = s;
    }
  return y;
}

TEST_F(CudaSkinnyGemm, MatchesFp64OfTheRoundedOperandsAtEverySplit) {
  uint32_t seed = 1500;
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> residual(-1.f, 1.f);
  for (DType dtype : {DType::BF16, DType::F16}) {
    for (auto [n, k] : {std::pair<int64_t, int64_t>{128, 64}, {200, 576}, {300, 4096}}) {
      const HostWeight w = make_weight(dtype, n, k, seed++);
      const Tensor dw = gpu->upload(w.tensor);
      for (int64_t m : {1, 9, 16, 17, 33, 64, 65, 128}) {
        const HostWeight x = make_weight(dtype, m, k, seed++);  // activations rounded to the weights' type
        const Tensor dx = gpu->upload(x.tensor);
        const std::vector<double> product = fp64_product(x.values, w.values, m, n, k);
        for (bool accumulate : {false, true}) {
          for (int splits : {1, 2, 3, 7, 16}) {
            if (splits > k / 64) continue;
            const int64_t stride = n + 1;
            Tensor host_y = Tensor::empty({m, stride}, DType::F32);
            std::vector<double> expect(static_cast<size_t>(m * n));
            for (int64_t i = 0; i < m; ++i) {
              for (int64_t j = 0; j < n; ++j) {
                const float base = accumulate ? residual(rng) : std::numeric_limits<float>::quiet_NaN();
                host_y.data<float>()[i * stride + j] = base;
                expect[static_cast<size_t>(i * n + j)] = (accumulate ? base : 0.0) + product[static_cast<size_t>(i * n + j)];
              }
              host_y.data<float>()[i * stride + n] = kPad;
            }
            DeviceBuffer partials(skinny_gemm_partials_bytes(m, n, splits));
            DeviceBuffer counters(sizeof(int) * static_cast<size_t>(skinny_gemm_row_tiles(n)));
            SkinnyGemmArgs a;
            a.x = dx.raw_data();
            a.x_stride = k;
            a.m = m;
            a.w = WeightRef{dw.raw_data(), dtype, n, k};
            a.accumulate = accumulate;
            a.splits = splits;
            a.partials = static_cast<float*>(partials.data);
            a.counters = static_cast<int*>(counters.data);
            Tensor results[2];
            for (Tensor& result : results) {  // twice from the same starting y
              Tensor dy = gpu->upload(host_y);
              gpu->synchronize();  // the backend's stream is not the default one the launch takes
              a.y = dy.data<float>();
              a.y_stride = stride;
              launch_skinny_gemm(a, nullptr);
              ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
              result = gpu->download(dy);
            }
            const std::string what = std::string(dtype_name(dtype)) + " m=" + std::to_string(m) + " n=" +
                                     std::to_string(n) + " k=" + std::to_string(k) + " splits=" +
                                     std::to_string(splits) + (accumulate ? " accumulate" : "");
            std::vector<float> got;
            std::vector<float> want;
            for (int64_t i = 0; i < m; ++i) {
              EXPECT_EQ(results[0].data<float>()[i * stride + n], kPad) << what << ": wrote past row " << i;
              for (int64_t j = 0; j < n; ++j) {
                got.push_back(results[0].data<float>()[i * stride + j]);
                want.push_back(static_cast<float>(expect[static_cast<size_t>(i * n + j)]));
              }
            }
            EXPECT_LT(relative_error(got, want), 2e-5) << what;
            EXPECT_EQ(std::memcmp(results[0].raw_data(), results[1].raw_data(), results[0].nbytes()), 0)
                << what << ": a second run gave other bits";
          }
        }
      }
    }
  }
}

// The kernel leaves its split counters at zero, so that the next product (or a replayed
// CUDA graph) starts from them: two products of different shapes on the same counters.
TEST_F(CudaSkinnyGemm, SplitCountersAreLeftAtZero) {
  const int64_t n = 1000, k = 1024, m = 40;
  const HostWeight w = make_weight(DType::BF16, n, k, 1600);
  const HostWeight x = make_weight(DType::BF16, m, k, 1601);
  const Tensor dw = gpu->upload(w.tensor), dx = gpu->upload(x.tensor);
  const int64_t tiles = skinny_gemm_row_tiles(n);
  DeviceBuffer partials(skinny_gemm_partials_bytes(m, n, 16));
  DeviceBuffer counters(sizeof(int) * static_cast<size_t>(tiles));
  Tensor dy = poisoned(*gpu, {m, n});
  gpu->synchronize();  // the backend's stream is not the default one the launches take
  for (int splits : {16, 5}) {
    SkinnyGemmArgs a;
    a.y = dy.data<float>();
    a.y_stride = n;
    a.x = dx.raw_data();
    a.x_stride = k;
    a.m = m;
    a.w = WeightRef{dw.raw_data(), DType::BF16, n, k};
    a.splits = splits;
    a.partials = static_cast<float*>(partials.data);
    a.counters = static_cast<int*>(counters.data);
    launch_skinny_gemm(a, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<int> after(static_cast<size_t>(tiles), -1);
    ASSERT_EQ(cudaMemcpy(after.data(), counters.data, after.size() * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
    for (int64_t t = 0; t < tiles; ++t) EXPECT_EQ(after[static_cast<size_t>(t)], 0) << "tile " << t << " splits " << splits;
    const std::vector<double> product = fp64_product(x.values, w.values, m, n, k);
    const Tensor got = gpu->download(dy);
    std::vector<float> want(product.begin(), product.end());
    EXPECT_LT(relative_error(std::vector<float>(got.data<float>(), got.data<float>() + m * n), want), 2e-5);
  }
}

// The split rule: one wave at most, at least 256 columns a split, at most 16.
TEST(SkinnyGemmSplits, FillOneWaveOfLongEnoughSplits) {
  EXPECT_EQ(skinny_gemm_splits(4096, 4096, 264), 8);     // 32 row tiles
  EXPECT_EQ(skinny_gemm_splits(6144, 4096, 264), 5);     // 48 row tiles: 240 blocks
  EXPECT_EQ(skinny_gemm_splits(28672, 4096, 264), 1);    // 224 row tiles already
  EXPECT_EQ(skinny_gemm_splits(4096, 14336, 264), 8);
  EXPECT_EQ(skinny_gemm_splits(576, 576, 264), 2);       // 5 tiles; 9 chunks: 2 splits of at least 4
  EXPECT_EQ(skinny_gemm_splits(128, 64, 264), 1);
  EXPECT_EQ(skinny_gemm_splits(128, 65536, 264), 16);
}

}  // namespace
}  // namespace strata::cuda_test
