#pragma once
// The rotation of one rotary pair, shared by the rope kernel and the fused rope + KV-store
// kernel so that both round identically. The angle is position * inv_freq in double, as
// the CPU backend's table computes it, so that long positions rotate alike on both.
#include <cuda_runtime.h>

#include <cstdint>

namespace strata::cuda {

struct RopeAngle {
  float cos_a, sin_a;
};

__device__ __forceinline__ RopeAngle rope_angle(int32_t position, double inv_freq) {
  double s, c;
  sincos(static_cast<double>(position) * inv_freq, &s, &c);
  return {static_cast<float>(c), static_cast<float>(s)};
}

// The two elements of rotary pair `pair` of one head: adjacent (GGUF "llama" layout) or
// half a rotation apart (NeoX / Hugging Face layout).
__device__ __forceinline__ int rope_first(int pair, int half, bool neox) { return neox ? pair : 2 * pair; }
__device__ __forceinline__ int rope_second(int pair, int half, bool neox) { return neox ? pair + half : 2 * pair + 1; }

// Rounded products and sums (no fused multiply-add), so that the compiler cannot contract
// the two kernels' copies differently.
__device__ __forceinline__ void rotate_pair(float& x0, float& x1, RopeAngle a) {
  const float r0 = __fsub_rn(__fmul_rn(x0, a.cos_a), __fmul_rn(x1, a.sin_a));
  const float r1 = __fadd_rn(__fmul_rn(x1, a.cos_a), __fmul_rn(x0, a.sin_a));
  x0 = r0;
  x1 = r1;
}

}  // namespace strata::cuda
