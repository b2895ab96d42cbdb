// The products of a decode batch (16 to 128 rows) of the Llama-3.1-8B shape with bf16
// weights: cublasGemmEx's default choice (the backend's path) against every algorithm
// cuBLASLt's heuristic offers for the same product (the best of them is what autotuning
// would reach). Weight bytes over the median time (CUDA events, one product a timing, 25
// timings, weights rotated over copies past the L2 cache, random operands), to set against
// the copy rate cuda_roofline measures. (Session 14's skinny GEMM was compared here too;
// its figures are in bench/RESULTS.md.)
// Usage: cuda_gemm_bench [M...]   (default 16 32 64 128)
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cuda_bench_util.h"

namespace {

using strata::bench::check;

struct Shape {
  const char* name;
  int64_t n, k;
  bool accumulate;  // the residual products (wo, down) add to y
};

// Median of 25 timed calls fn(i) in microseconds.
template <typename Fn>
double median_us(Fn&& fn) {
  return 1e3 * strata::bench::median_ms(25, fn);
}

std::vector<uint16_t> random_bf16(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  std::vector<uint16_t> out(count);
  for (auto& v : out) {
    const __nv_bfloat16 b = __float2bfloat16(dist(rng));
    v = *reinterpret_cast<const uint16_t*>(&b);
  }
  return out;
}

void* device_copy(const std::vector<uint16_t>& host) {
  void* p = nullptr;
  check(cudaMalloc(&p, host.size() * 2), "cudaMalloc");
  check(cudaMemcpy(p, host.data(), host.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> ms;
  for (int i = 1; i < argc; ++i) ms.push_back(std::atoll(argv[i]));
  if (ms.empty()) ms = {16, 32, 64, 128};
  cudaDeviceProp props{};
  check(cudaGetDeviceProperties(&props, 0), "cudaGetDeviceProperties");
  std::printf("gpu: %s, %d SMs\n", props.name, props.multiProcessorCount);
  const Shape shapes[] = {{"qkv", 6144, 4096, false},
                          {"wo", 4096, 4096, true},
                          {"gate_up", 28672, 4096, false},
                          {"down", 4096, 14336, true},
                          {"lm_head", 128256, 4096, false}};
  cublasHandle_t handle;
  check(cublasCreate(&handle), "cublasCreate");
  cublasLtHandle_t lt;
  check(cublasLtCreate(&lt), "cublasLtCreate");
  const size_t workspace_bytes = size_t{32} << 20;
  void* workspace = nullptr;
  check(cudaMalloc(&workspace, workspace_bytes), "cudaMalloc");
  check(cublasSetWorkspace(handle, workspace, workspace_bytes), "cublasSetWorkspace");

  std::printf("| product | m | weight MB | cublasGemmEx us (GB/s) | cuBLASLt first us | cuBLASLt best us (GB/s, of) |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  uint32_t seed = 1;
  for (const Shape& s : shapes) {
    const size_t weight_elems = static_cast<size_t>(s.n * s.k);
    const double weight_bytes = 2.0 * static_cast<double>(weight_elems);
    const int copies = std::max(1, static_cast<int>(std::ceil(256e6 / weight_bytes)));
    std::vector<void*> weights;
    const std::vector<uint16_t> host_w = random_bf16(weight_elems, seed++);
    for (int c = 0; c < copies; ++c) weights.push_back(device_copy(host_w));
    for (int64_t m : ms) {
      void* x = device_copy(random_bf16(static_cast<size_t>(m * s.k), seed++));
      float* y = nullptr;
      check(cudaMalloc(&y, static_cast<size_t>(m * s.n) * 4), "cudaMalloc");
      check(cudaMemset(y, 0, static_cast<size_t>(m * s.n) * 4), "cudaMemset");
      const float alpha = 1.f, beta = s.accumulate ? 1.f : 0.f;
      const auto gemm_ex = [&](int i) {
        check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.n), static_cast<int>(m),
                           static_cast<int>(s.k), &alpha, weights[static_cast<size_t>(i % copies)], CUDA_R_16BF,
                           static_cast<int>(s.k), x, CUDA_R_16BF, static_cast<int>(s.k), &beta, y, CUDA_R_32F,
                           static_cast<int>(s.n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              "cublasGemmEx");
      };
      const double cublas_us = median_us(gemm_ex);

      // cuBLASLt: the same product, every algorithm of the heuristic's list.
      cublasLtMatmulDesc_t op;
      check(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
      const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
      check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "transa");
      check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "transb");
      cublasLtMatrixLayout_t la, lb, lc;
      check(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, s.k, s.n, s.k), "layout a");
      check(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, s.k, m, s.k), "layout b");
      check(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, s.n, m, s.n), "layout c");
      cublasLtMatmulPreference_t pref;
      check(cublasLtMatmulPreferenceCreate(&pref), "preference");
      check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes,
                                                 sizeof workspace_bytes),
            "preference workspace");
      cublasLtMatmulHeuristicResult_t results[32];
      int found = 0;
      check(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 32, results, &found), "heuristic");
      double lt_first = NAN, lt_best = INFINITY;
      int lt_best_index = -1;
      for (int r = 0; r < found; ++r) {
        const double us = median_us([&](int i) {
          check(cublasLtMatmul(lt, op, &alpha, weights[static_cast<size_t>(i % copies)], la, x, lb, &beta, y, lc, y, lc,
                               &results[r].algo, workspace, workspace_bytes, nullptr),
                "cublasLtMatmul");
        });
        if (r == 0) lt_first = us;
        if (us < lt_best) lt_best = us, lt_best_index = r;
      }
      cublasLtMatmulPreferenceDestroy(pref);
      cublasLtMatrixLayoutDestroy(la);
      cublasLtMatrixLayoutDestroy(lb);
      cublasLtMatrixLayoutDestroy(lc);
      cublasLtMatmulDescDestroy(op);

      const auto gbs = [&](double us) { return weight_bytes / (us * 1e-6) / 1e9; };
      std::printf("| %s | %lld | %.1f | %.1f (%.0f) | %.1f | %.1f (%.0f, #%d of %d) |\n", s.name,
                  static_cast<long long>(m), weight_bytes / 1e6, cublas_us, gbs(cublas_us), lt_first, lt_best,
                  gbs(lt_best), lt_best_index, found);
      std::fflush(stdout);
      cudaFree(x);
      cudaFree(y);
    }
    for (void* w : weights) cudaFree(w);
  }
  check(cudaGetLastError(), "last error");
  return 0;
}
