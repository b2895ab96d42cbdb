#pragma once
// Asking L2 for the leading part of every row of a weight that a later kernel reads
// (WeightPrefetch in launch.h): one bulk prefetch a row, issued by the grid's threads in
// turn. A bulk prefetch returns nothing, holds no registers and is served by the SM's copy
// engine, so the issuing kernel goes on at once (sessions 15 and 17 lost with per-line
// prefetches from a latency-bound kernel's threads and with products prefetching their own
// rows; this asks only while DRAM would otherwise idle, and in the order the product reads).
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/launch.h"

namespace strata::cuda {

__device__ __forceinline__ void bulk_prefetch_l2(const void* address, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(address), "r"(bytes) : "memory");
}

// This thread's rows: row i to the grid's thread i modulo its threads, counting blocks from
// the last (a decode attention grid's last key splits are the ones a short context leaves
// without work).
__device__ __forceinline__ void issue_weight_prefetch(const WeightPrefetch& p) {
  if (p.rows == 0) return;
  const int64_t blocks = int64_t{gridDim.x} * gridDim.y * gridDim.z;
  const int64_t block = blocks - 1 - ((int64_t{blockIdx.z} * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x);
  const int64_t threads = blocks * blockDim.x;
  for (int64_t r = block * blockDim.x + threadIdx.x; r < p.rows; r += threads)
    bulk_prefetch_l2(p.base + r * p.row_bytes, static_cast<uint32_t>(p.lead_bytes));
}

}  // namespace strata::cuda
