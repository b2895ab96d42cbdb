// Greedy sampling on the device: one block per logits row finds the largest value's index
// (the lowest among ties, as the CPU's argmax), so a decode step brings back one id per
// sequence instead of a row of vocabulary logits.
#include <cmath>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"

namespace strata::cuda {

namespace {

constexpr int kThreads = 1024;

// (value, index) ordered by value, then by lower index. NaN compares as below everything,
// which matches the CPU's sequential scan except when the first value is NaN (handled by
// the caller: the scan never leaves index 0 then).
struct Best {
  float value;
  int32_t index;
};

__device__ __forceinline__ Best better(Best a, Best b) {
  if (b.value > a.value || (b.value == a.value && b.index < a.index)) return b;
  return a;
}

__device__ __forceinline__ Best warp_best(Best v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const Best other{__shfl_xor_sync(0xffffffffu, v.value, offset), __shfl_xor_sync(0xffffffffu, v.index, offset)};
    v = better(v, other);
  }
  return v;
}

__global__ void argmax_rows_kernel(int32_t* ids, const float* logits, int64_t stride, int64_t width) {
  wait_for_previous_kernel();
  const float* row = logits + blockIdx.x * stride;
  Best best{-INFINITY, INT32_MAX};  // no value yet: loses to any value, -inf included (index)
  for (int64_t i = threadIdx.x; i < width; i += kThreads) {
    const float v = row[i];
    if (v == v) best = better(best, Best{v, static_cast<int32_t>(i)});  // NaN never wins
  }
  best = warp_best(best);
  __shared__ Best per_warp[kThreads / 32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) per_warp[warp] = best;
  __syncthreads();
  if (warp == 0) {
    best = lane < kThreads / 32 ? per_warp[lane] : Best{-INFINITY, INT32_MAX};
    best = warp_best(best);
    if (lane == 0) {
      const float first = row[0];
      // A NaN first value keeps index 0 (the CPU scan compares against it and never
      // moves), and so does a row of NaN only.
      ids[blockIdx.x] = first != first || best.index == INT32_MAX ? 0 : best.index;
    }
  }
}

}  // namespace

void launch_argmax_rows(int32_t* ids, const float* logits, int64_t stride, int64_t rows, int64_t width,
                        cudaStream_t stream) {
  if (rows == 0) return;
  launch_kernel(argmax_rows_kernel, static_cast<unsigned>(rows), kThreads, 0, stream, ids, logits, stride, width);
  check_launch("argmax_rows_kernel");
}

}  // namespace strata::cuda
