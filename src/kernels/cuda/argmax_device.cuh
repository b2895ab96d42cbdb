#pragma once
// The block-wide argmax of a logits row, shared by greedy sampling (argmax.cu) and greedy
// rows of sample_rows.cu.
#include <cmath>
#include <cstdint>

namespace strata::cuda {

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

// The index of row[0, width)'s largest value, the lowest among ties and NaN never winning,
// as the CPU's sequential scan (which never leaves index 0 when row[0] is NaN); every
// thread of the block gets it. `per_warp`: shared memory for kThreads / 32 entries.
template <int kThreads>
__device__ int32_t block_argmax(const float* row, int64_t width, Best* per_warp) {
  Best best{-INFINITY, INT32_MAX};  // no value yet: loses to any value, -inf included (index)
  for (int64_t i = threadIdx.x; i < width; i += kThreads) {
    const float v = row[i];
    if (v == v) best = better(best, Best{v, static_cast<int32_t>(i)});  // NaN never wins
  }
  best = warp_best(best);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) per_warp[warp] = best;
  __syncthreads();
  best = lane < kThreads / 32 ? per_warp[lane] : Best{-INFINITY, INT32_MAX};
  best = warp_best(best);
  __syncthreads();  // per_warp may be reused
  const float first = row[0];
  return first != first || best.index == INT32_MAX ? 0 : best.index;
}

}  // namespace strata::cuda
