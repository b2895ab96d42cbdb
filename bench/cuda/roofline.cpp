// The two ceilings of this GPU, measured the way METHOD.md asks: device-to-device copy
// bandwidth (cudaMemcpy, counting bytes read plus written) and the BF16 matrix rate of
// cuBLAS (8192^3, random operands, f32 accumulation). CUDA events, warm-up first, median
// of the timed repetitions.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cuda_bench_util.h"

namespace {

using strata::bench::check;
using strata::bench::median_ms;

double copy_bandwidth_gbs() {
  const size_t bytes = size_t{4} << 30;  // 4 GiB each way: far beyond L2
  void *a = nullptr, *b = nullptr;
  check(cudaMalloc(&a, bytes), "cudaMalloc");
  check(cudaMalloc(&b, bytes), "cudaMalloc");
  check(cudaMemset(a, 0x5a, bytes), "cudaMemset");
  const double ms =
      median_ms(10, [&](int) { check(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy"); });
  cudaFree(a);
  cudaFree(b);
  return 2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9;
}

double bf16_gemm_tflops() {
  const int n = 8192;
  const size_t elems = size_t{n} * n;
  std::vector<__nv_bfloat16> host(elems);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (auto& v : host) v = __float2bfloat16(dist(rng));
  __nv_bfloat16 *a = nullptr, *b = nullptr;
  float* c = nullptr;
  check(cudaMalloc(&a, elems * 2), "cudaMalloc");
  check(cudaMalloc(&b, elems * 2), "cudaMalloc");
  check(cudaMalloc(&c, elems * 4), "cudaMalloc");
  check(cudaMemcpy(a, host.data(), elems * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
  std::shuffle(host.begin(), host.end(), rng);
  check(cudaMemcpy(b, host.data(), elems * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
  cublasHandle_t handle;
  check(cublasCreate(&handle), "cublasCreate");
  const float alpha = 1.f, beta = 0.f;
  const double ms = median_ms(20, [&](int) {
    check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, a, CUDA_R_16BF, n, b, CUDA_R_16BF, n, &beta,
                       c, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx");
  });
  cublasDestroy(handle);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
  return 2.0 * n * static_cast<double>(n) * n / (ms * 1e-3) / 1e12;
}

}  // namespace

int main() {
  cudaDeviceProp props{};
  check(cudaGetDeviceProperties(&props, 0), "cudaGetDeviceProperties");
  std::printf("gpu: %s, %d SMs, %.1f GiB\n", props.name, props.multiProcessorCount,
              static_cast<double>(props.totalGlobalMem) / (1 << 30));
  std::printf("copy bandwidth (D2D, read + write): %.0f GB/s\n", copy_bandwidth_gbs());
  std::printf("bf16 GEMM 8192^3 (cuBLAS, f32 accumulate): %.0f TFLOP/s\n", bf16_gemm_tflops());
  return 0;
}
