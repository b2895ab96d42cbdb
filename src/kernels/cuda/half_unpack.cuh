#pragma once
// Eight 16-bit floats of one 16-byte load, widened to f32 (the GEMV kernels' float weights).
#include <cuda_fp16.h>

#include <cstdint>

namespace strata::cuda {

__device__ __forceinline__ void unpack_half8(const uint4& v, float* w) {
  const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(h[i]);
    w[2 * i] = f.x;
    w[2 * i + 1] = f.y;
  }
}

__device__ __forceinline__ void unpack_bf16x8(const uint4& v, float* w) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    w[2 * i] = __uint_as_float(words[i] << 16);
    w[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
  }
}

}  // namespace strata::cuda
