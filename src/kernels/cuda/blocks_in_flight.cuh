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

// Weights are read once per product: evict-first, so activations keep the caches. With
// Whole256 (STRATA_CUDA_L2_256=1, A/B runs) a miss makes L2 fetch the 256 aligned bytes
// around it from memory at once: a warp's other steps read the rest.
template <bool Whole256 = false>
__device__ __forceinline__ uint4 load_streaming(const void* p) {
  if constexpr (!Whole256) return __ldcs(static_cast<const uint4*>(p));
  uint4 v;
  asm("ld.global.cs.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}

template <bool Whole256>
__device__ __forceinline__ float load_scale(const __half* p) {
  if constexpr (!Whole256) return __half2float(*p);
  unsigned short v;
  asm("ld.global.nc.L2::256B.u16 %0, [%1];" : "=h"(v) : "l"(p));
  return __half2float(__ushort_as_half(v));
}

template <DType Type, int kUnroll, int Rows, int Stride = 32, bool Whole256 = false>
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
        for (int l = 0; l < kLoads; ++l)
          raw[u][r][l] = load_streaming<Whole256>(p[r].quants + block * 16 * kLoads + 16 * l);
        scale[u][r] = load_scale<Whole256>(p[r].scales + block);
        min[u][r] = Type == DType::Q4_1 ? load_scale<Whole256>(p[r].mins + block) : 0.f;
      }
  }
};

}  // namespace strata::cuda
