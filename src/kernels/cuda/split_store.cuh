#pragma once
// One 32-value group of an activation row as the integer GEMV of block-quantized weights
// reads it (SplitRows, launch.h): d = amax / levels, q = round-to-nearest-even of x / d via
// the reciprocal (the CPU backend's quantize_activation_row_generic), split into a signed
// high and low byte, with the group's d, sum and sum of q. Called by a whole warp, lane j
// holding column `first + j` of row `row`; the quantization kernel and the epilogues that
// quantize their own output share it, so every path rounds the same way.
#include <cstdint>

#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"

namespace strata::cuda {

__device__ __forceinline__ void store_split_group(const SplitRows& out, int64_t row, int64_t first, float v,
                                                  int levels) {
  const int lane = threadIdx.x % 32;
  const float amax = warp_max(fabsf(v)), total = warp_sum(v);
  const float d = amax / static_cast<float>(levels), inv = d != 0.f ? 1.f / d : 0.f;
  const int q = __float2int_rn(v * inv);
  const int lo = static_cast<int8_t>(q);  // q - lo is a multiple of 256
  const int64_t i = row * out.cols + first + lane;
  out.hi[i] = static_cast<int8_t>((q - lo) / 256);
  out.lo[i] = static_cast<int8_t>(lo);
  const int q_sum = warp_sum_int(q);
  if (lane == 0) out.groups[row * (out.cols / 32) + first / 32] = SplitGroup{d, total, q_sum, 0};
}

}  // namespace strata::cuda
