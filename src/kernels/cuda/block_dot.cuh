#pragma once
// The integer dot product of one repacked weight block (Q8_0, Q4_0, Q4_1) with 32 signed
// activation bytes in 8 dp4a instructions: the int8 GEMV's activations, or either byte
// of the split int16 ones. Q4 quants enter as their stored values 0..15 (offsets and mins
// are applied by the caller).
#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace strata::cuda {

// Dot product of one packed weight block with one int8 activation block (x0: values
// 0..15, x1: values 16..31). Q4 byte i holds value i (low nibble) and i + 16 (high).
template <DType Type>
__device__ __forceinline__ int block_dot(const uint4* w, const int4& x0, const int4& x1) {
  int dot = 0;
  if constexpr (Type == DType::Q8_0) {
    dot = __dp4a(static_cast<int>(w[0].x), x0.x, dot);
    dot = __dp4a(static_cast<int>(w[0].y), x0.y, dot);
    dot = __dp4a(static_cast<int>(w[0].z), x0.z, dot);
    dot = __dp4a(static_cast<int>(w[0].w), x0.w, dot);
    dot = __dp4a(static_cast<int>(w[1].x), x1.x, dot);
    dot = __dp4a(static_cast<int>(w[1].y), x1.y, dot);
    dot = __dp4a(static_cast<int>(w[1].z), x1.z, dot);
    dot = __dp4a(static_cast<int>(w[1].w), x1.w, dot);
  } else {
    const uint32_t words[4] = {w[0].x, w[0].y, w[0].z, w[0].w};
    const int lo_x[4] = {x0.x, x0.y, x0.z, x0.w}, hi_x[4] = {x1.x, x1.y, x1.z, x1.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      dot = __dp4a(static_cast<int>(words[j] & 0x0f0f0f0fu), lo_x[j], dot);
      dot = __dp4a(static_cast<int>((words[j] >> 4) & 0x0f0f0f0fu), hi_x[j], dot);
    }
  }
  return dot;
}

}  // namespace strata::cuda
