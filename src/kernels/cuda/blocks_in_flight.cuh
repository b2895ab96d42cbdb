#pragma once
// The weight blocks (Q8_0, Q4_0, Q4_1, repacked) that one warp of a GEMV has in flight:
// kUnroll blocks of each of its Rows rows, with their scales (and Q4_1 mins). Thread j takes
// blocks j, j + Stride, ... of a row (Stride 32: a warp per row; more: a block's warps
// share the rows), so a warp's 16-byte loads are coalesced.
#include <cuda_fp16.h>

#include <cstdint>

#include "core/dtype.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/quant_device.cuh"

namespace strata::cuda {

// Weights are read once per product: evict-first, so activations keep the caches.
__device__ __forceinline__ uint4 load_streaming(const void* p) { return __ldcs(static_cast<const uint4*>(p)); }

template <DType Type, int kUnroll, int Rows, int Stride = 32>
struct BlocksInFlight {
  static constexpr int kLoads = Type == DType::Q8_0 ? 2 : 1;  // 16-byte loads per block
  PackedBlocks p[Rows];
  int64_t first_block[Rows];
  int64_t blocks;  // per row
  uint4 raw[kUnroll][Rows][kLoads];
  float scale[kUnroll][Rows], min[kUnroll][Rows];

  // Row r of the warp is row `row[r]` of weight `w[r]`.
  __device__ __forceinline__ BlocksInFlight(const WeightRef (&w)[Rows], const int64_t (&row)[Rows], int64_t cols)
      : blocks(cols / 32) {
#pragma unroll
    for (int r = 0; r < Rows; ++r) p[r] = packed_blocks(w[r]), first_block[r] = row[r] * blocks;
  }

  __device__ __forceinline__ void load(int64_t b0) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int r = 0; r < Rows; ++r) {
        if (b0 + Stride * u >= blocks) continue;
        const int64_t block = first_block[r] + b0 + Stride * u;
#pragma unroll
        for (int l = 0; l < kLoads; ++l) raw[u][r][l] = load_streaming(p[r].quants + block * 16 * kLoads + 16 * l);
        scale[u][r] = __half2float(p[r].scales[block]);
        min[u][r] = Type == DType::Q4_1 ? __half2float(p[r].mins[block]) : 0.f;
      }
  }
};

}  // namespace strata::cuda
