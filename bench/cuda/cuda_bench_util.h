#pragma once
// Helpers of the stand-alone CUDA benchmarks (bench/cuda/*.cpp): status checks (a failed
// CUDA or cuBLAS call prints what failed and ends the program) and event timing.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace strata::bench {

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(status));
    std::exit(1);
  }
}

inline void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s: cuBLAS status %d\n", what, static_cast<int>(status));
    std::exit(1);
  }
}

// The median in milliseconds of `repetitions` timed calls fn(i) (CUDA events around each,
// on the default stream), after three warm-up calls; i counts calls from 0, warm-up included,
// so that callers can rotate their inputs.
template <typename Fn>
double median_ms(int repetitions, Fn&& fn) {
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  int call = 0;
  for (; call < 3; ++call) fn(call);
  std::vector<double> times;
  for (int r = 0; r < repetitions; ++r, ++call) {
    check(cudaEventRecord(start), "cudaEventRecord");
    fn(call);
    check(cudaEventRecord(stop), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    times.push_back(ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace strata::bench
