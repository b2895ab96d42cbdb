#pragma once
// Asking L2 for weights a later kernel reads (L2Prefetch in launch.h): prefetches return
// nothing and hold no registers, so a latency-bound kernel can issue a few per thread and
// go on with its own work while DRAM, otherwise idle, fills L2.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/launch.h"

namespace strata::cuda {

// This thread's share of every range: line i of a range goes to the grid's thread i
// modulo the grid's threads. The ranges are indexed by constants (an unrolled loop) so
// that the parameter struct stays in parameter space.
__device__ __forceinline__ void issue_l2_prefetch(const L2Prefetch& p) {
  const int64_t threads = int64_t{gridDim.x} * gridDim.y * gridDim.z * blockDim.x;
  const int64_t block = (int64_t{blockIdx.z} * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const int64_t first = block * blockDim.x + threadIdx.x;
#pragma unroll
  for (int r = 0; r < kMaxPrefetchRanges; ++r) {
    if (r >= p.count) break;
    for (int64_t i = first; i < p.lines[r]; i += threads)
      asm volatile("prefetch.global.L2 [%0];" ::"l"(p.begin[r] + i * 128));
  }
}

}  // namespace strata::cuda
