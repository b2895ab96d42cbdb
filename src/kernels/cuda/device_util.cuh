#pragma once
// Small device helpers shared by the kernels of this folder.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/launch.h"

namespace strata::cuda {

__device__ __forceinline__ float* row_ptr(const RowsF32& r, int64_t i) {
  return r.base + (i / r.inner_count) * r.outer_stride + (i % r.inner_count) * r.inner_stride;
}

// Elementwise product of two float4 (activations times a norm's weights).
__device__ __forceinline__ float4 times(const float4& a, const float4& b) {
  return make_float4(a.x * b.x, a.y * b.y, a.z * b.z, a.w * b.w);
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

__device__ __forceinline__ int warp_sum_int(int v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// 1 / sqrt(mean + eps) of a row whose squares the block's Threads threads have summed in
// parts (`sum`, one per thread): the warp tree, then the warps' partial sums in order.
template <int Threads>
__device__ __forceinline__ float inv_rms_of_sums(float sum, int64_t width, float eps) {
  __shared__ float partial[Threads / 32];
  sum = warp_sum(sum);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < Threads / 32; ++w) total += partial[w];
  return rsqrtf(total / static_cast<float>(width) + eps);
}

// 1 / rms(src[0, width)) + eps under the square root, by a block of Threads threads (all
// of them must call it): per-thread strided sums of squares, the warp tree, then the warps'
// partial sums in order. RMSNorm and the norm folded into activation quantization share it,
// so both normalize to the same floats.
template <int Threads>
__device__ __forceinline__ float block_inv_rms(const float* src, int64_t width, float eps) {
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < width; i += Threads) sum += src[i] * src[i];
  return inv_rms_of_sums<Threads>(sum, width, eps);
}

inline unsigned blocks_for(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace strata::cuda
