#pragma once
// Reading weights of every device dtype element by element (embedding, dequantization to
// bf16). The GEMV kernels decode whole blocks themselves; see weight_layout.h for the
// repacked block layout both follow.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/launch.h"

namespace strata::cuda {

// Pointers into a repacked Q8_0/Q4_0/Q4_1 weight.
struct PackedBlocks {
  const uint8_t* quants;
  const __half* scales;
  const __half* mins;  // Q4_1 only
};

__host__ __device__ inline PackedBlocks packed_blocks(const WeightRef& w) {
  const int64_t num_blocks = w.rows * (w.cols / 32);
  const int64_t quant_bytes = w.dtype == DType::Q8_0 ? 32 : 16;
  const auto* base = static_cast<const uint8_t*>(w.data);
  const auto* scales = reinterpret_cast<const __half*>(base + num_blocks * quant_bytes);
  return {base, scales, scales + num_blocks};
}

// Element (row, col) of a weight as f32.
__device__ inline float weight_element(const WeightRef& w, const PackedBlocks& p, int64_t row, int64_t col) {
  switch (w.dtype) {
    case DType::F32: return static_cast<const float*>(w.data)[row * w.cols + col];
    case DType::F16: return __half2float(static_cast<const __half*>(w.data)[row * w.cols + col]);
    case DType::BF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(w.data)[row * w.cols + col]);
    default: break;
  }
  const int64_t block = row * (w.cols / 32) + col / 32;
  const int within = static_cast<int>(col % 32);
  const float d = __half2float(p.scales[block]);
  if (w.dtype == DType::Q8_0) return d * static_cast<float>(reinterpret_cast<const int8_t*>(p.quants)[block * 32 + within]);
  const uint8_t byte = p.quants[block * 16 + within % 16];
  const int nibble = within < 16 ? (byte & 15) : (byte >> 4);
  if (w.dtype == DType::Q4_0) return d * static_cast<float>(nibble - 8);
  return d * static_cast<float>(nibble) + __half2float(p.mins[block]);  // Q4_1
}

}  // namespace strata::cuda
