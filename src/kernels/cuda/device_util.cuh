#pragma once
// Small device helpers shared by the kernels of this folder.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/launch.h"

namespace strata::cuda {

__device__ __forceinline__ float* row_ptr(const RowsF32& r, int64_t i) {
  return r.base + (i / r.inner_count) * r.outer_stride + (i % r.inner_count) * r.inner_stride;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// SwiGLU's elementwise step, silu(gate) * up (the kernel of silu_mul and the GEMV's fused
// epilogue: one formula, so that both round alike).
__device__ __forceinline__ float silu_times(float gate, float up) { return gate / (1.f + __expf(-gate)) * up; }

inline unsigned blocks_for(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace strata::cuda
