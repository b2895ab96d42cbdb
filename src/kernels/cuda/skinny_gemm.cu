// Products of few activation rows (decode batches of 9 to 128 sequences) on the tensor
// cores, for f16/bf16 weights: y[m, n] (+)= x[m, k] · w[n, k]ᵀ. At these sizes a product is
// bound by reading its weights once (64 rows of the 8B shape's gate/up product read 235 MB
// and compute 30 GFLOP), and cuBLAS's kernels for them ran at ~78% of the copy rate
// (bench/RESULTS.md, session 10's profile). Here a block of four warps streams 128 weight
// rows through a cp.async pipeline of 64-column stages, each warp multiplying 32 of them by
// every activation row (mma.m16n8k16: weight rows as the A rows, activation rows as the B
// columns), so a weight byte is read once from memory and once from shared memory, and the
// activations (all m rows, a few KB a stage) once a block from L2. Splits of k give the
// narrow products (4,096 rows: 32 row tiles) enough blocks; the last block of a row tile to
// finish adds the splits' partial sums in split order, so results never depend on timing.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/mma_util.cuh"

namespace strata::cuda {

namespace {

constexpr int kTileRows = 128;  // weight rows a block
constexpr int kWarpRows = 32;   // weight rows a warp: two mma A tiles share each activation fragment
constexpr int kWarps = kTileRows / kWarpRows;
constexpr int kThreads = kWarps * 32;
constexpr int kChunk = 64;            // k columns a pipeline stage
constexpr int kStride = kChunk + 8;   // halves a shared-memory row: 144 bytes, ldmatrix rows in distinct banks
constexpr int kMinChunksPerSplit = 4;  // a split streams at least 256 columns
constexpr int kMaxSplits = 16;

// Stages in flight: four, or three for 128 activation rows, so that two blocks fit an SM.
template <int Tokens>
constexpr int stages() {
  return Tokens >= 128 ? 3 : 4;
}

template <int Tokens>
constexpr size_t shared_bytes() {
  return sizeof(uint16_t) * size_t{stages<Tokens>()} * (kTileRows + Tokens) * kStride;
}

template <bool Bf16>
__device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (Bf16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    mma_16816(d, a, b0, b1);
  }
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
}

template <int Tokens, bool Bf16>
__global__ void __launch_bounds__(kThreads, 2) skinny_gemm_kernel(SkinnyGemmArgs a) {
  constexpr int kStages = stages<Tokens>();
  constexpr int kStageHalves = (kTileRows + Tokens) * kStride;  // weights, then activations
  extern __shared__ uint4 smem_raw[];
  uint16_t* smem = reinterpret_cast<uint16_t*>(smem_raw);
  __shared__ int last_block;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int64_t n = a.w.rows, k = a.w.cols, row0 = int64_t{blockIdx.x} * kTileRows;
  const int m = static_cast<int>(a.m), split = static_cast<int>(blockIdx.y);
  const int64_t chunks = k / kChunk;
  const int64_t chunk_begin = split * chunks / a.splits;
  const int num_chunks = static_cast<int>((split + 1) * chunks / a.splits - chunk_begin);
  const uint16_t* w = static_cast<const uint16_t*>(a.w.data);
  const uint16_t* x = static_cast<const uint16_t*>(a.x);

  // 16-byte pieces: rows past the weight or past m are filled with zeros and read nothing.
  const auto load_weights = [&](int c) {
    uint16_t* dst = smem + (c % kStages) * kStageHalves;
    const int64_t col = (chunk_begin + c) * kChunk;
    for (int i = tid; i < kTileRows * (kChunk / 8); i += kThreads) {
      const int r = i / (kChunk / 8), piece = i % (kChunk / 8);
      const bool inside = row0 + r < n;
      cp_async_16(dst + r * kStride + piece * 8, w + (inside ? row0 + r : 0) * k + col + piece * 8, inside ? 16 : 0);
    }
  };
  const auto load_activations = [&](int c) {
    uint16_t* dst = smem + (c % kStages) * kStageHalves + kTileRows * kStride;
    const int64_t col = (chunk_begin + c) * kChunk;
    for (int i = tid; i < Tokens * (kChunk / 8); i += kThreads) {
      const int t = i / (kChunk / 8), piece = i % (kChunk / 8);
      const bool inside = t < m;
      cp_async_16(dst + t * kStride + piece * 8, x + (inside ? t : 0) * a.x_stride + col + piece * 8, inside ? 16 : 0);
    }
  };

  // The weights do not depend on the kernel before: their first stages go out before the wait.
  for (int c = 0; c < kStages - 1 && c < num_chunks; ++c) load_weights(c);
  wait_for_previous_kernel();
  for (int c = 0; c < kStages - 1; ++c) {
    if (c < num_chunks) load_activations(c);
    cp_async_commit();
  }

  float acc[2][Tokens / 8][4];
#pragma unroll
  for (int rf = 0; rf < 2; ++rf)
#pragma unroll
    for (int nb = 0; nb < Tokens / 8; ++nb) acc[rf][nb][0] = acc[rf][nb][1] = acc[rf][nb][2] = acc[rf][nb][3] = 0.f;

  for (int c = 0; c < num_chunks; ++c) {
    cp_async_wait<kStages - 2>();  // stage c has landed (for this thread) ...
    __syncthreads();               // ... for every thread, and stage c - 1 is free again
    const uint16_t* sw = smem + (c % kStages) * kStageHalves;
    const uint16_t* sx = sw + kTileRows * kStride;
#pragma unroll
    for (int ks = 0; ks < kChunk / 16; ++ks) {
      uint32_t af[2][4];
#pragma unroll
      for (int rf = 0; rf < 2; ++rf)
        ldmatrix_x4(af[rf], sw + (warp * kWarpRows + rf * 16 + lane % 16) * kStride + ks * 16 + (lane / 16) * 8);
#pragma unroll
      for (int nb = 0; nb < Tokens / 8; nb += 2) {
        uint32_t b[4];  // b0, b1 of activation blocks nb and nb + 1
        ldmatrix_x4(b, sx + (nb * 8 + lane % 8 + 8 * (lane / 16)) * kStride + ks * 16 + 8 * ((lane / 8) % 2));
#pragma unroll
        for (int rf = 0; rf < 2; ++rf) {
          mma<Bf16>(acc[rf][nb], af[rf], b[0], b[1]);
          mma<Bf16>(acc[rf][nb + 1], af[rf], b[2], b[3]);
        }
      }
    }
    if (c + kStages - 1 < num_chunks) {
      load_weights(c + kStages - 1);
      load_activations(c + kStages - 1);
    }
    cp_async_commit();  // an empty group past the end keeps the wait count right
  }
  cp_async_wait<0>();

  // acc[rf][nb][e] is weight row warp * 32 + rf * 16 + lane / 4 (+ 8 for e >= 2) and
  // activation row nb * 8 + (lane % 4) * 2 + e % 2.
  const auto for_each_output = [&](auto&& fn) {
#pragma unroll
    for (int rf = 0; rf < 2; ++rf)
#pragma unroll
      for (int nb = 0; nb < Tokens / 8; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t row = row0 + warp * kWarpRows + rf * 16 + lane / 4 + (e >= 2 ? 8 : 0);
          const int t = nb * 8 + (lane % 4) * 2 + e % 2;
          if (row < n && t < m) fn(row, t, acc[rf][nb][e]);
        }
  };
  if (a.splits == 1) {
    for_each_output([&](int64_t row, int t, float v) {
      float* out = a.y + t * a.y_stride + row;
      *out = a.accumulate ? *out + v : v;
    });
    return;
  }
  // Partial sums to [splits, m, n]; the block that finishes a row tile last adds them up.
  float* partial = a.partials + int64_t{split} * m * n;
  for_each_output([&](int64_t row, int t, float v) { partial[t * n + row] = v; });
  __threadfence();
  __syncthreads();
  if (tid == 0) last_block = atomicAdd(a.counters + blockIdx.x, 1) == a.splits - 1;
  __syncthreads();
  if (!last_block) return;
  __threadfence();
  const int rows = static_cast<int>(n - row0 < kTileRows ? n - row0 : kTileRows);
  for (int i = tid; i < m * kTileRows; i += kThreads) {
    const int t = i / kTileRows, r = i % kTileRows;
    if (r >= rows) continue;
    float sum = 0.f;
    for (int s = 0; s < a.splits; ++s) sum += __ldcg(a.partials + (int64_t{s} * m + t) * n + row0 + r);
    float* out = a.y + t * a.y_stride + row0 + r;
    *out = a.accumulate ? *out + sum : sum;
  }
  if (tid == 0) a.counters[blockIdx.x] = 0;  // ready for the next product
}

template <int Tokens, bool Bf16>
void launch_for(const SkinnyGemmArgs& a, cudaStream_t stream) {
  static bool raised = false;  // the opt-in above 48 KB is per kernel, once is enough
  if (!raised) {
    cuda_check(cudaFuncSetAttribute(skinny_gemm_kernel<Tokens, Bf16>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(shared_bytes<Tokens>())),
               "cudaFuncSetAttribute(skinny_gemm_kernel)");
    raised = true;
  }
  const dim3 grid(static_cast<unsigned>(skinny_gemm_row_tiles(a.w.rows)), static_cast<unsigned>(a.splits));
  launch_kernel(skinny_gemm_kernel<Tokens, Bf16>, grid, kThreads, shared_bytes<Tokens>(), stream, a);
  check_launch("skinny_gemm_kernel");
}

template <bool Bf16>
void launch_typed(const SkinnyGemmArgs& a, cudaStream_t stream) {
  if (a.m <= 16) launch_for<16, Bf16>(a, stream);
  else if (a.m <= 32) launch_for<32, Bf16>(a, stream);
  else if (a.m <= 64) launch_for<64, Bf16>(a, stream);
  else launch_for<128, Bf16>(a, stream);
}

}  // namespace

bool skinny_gemm_supports(const WeightRef& w, int64_t m) {
  return (w.dtype == DType::BF16 || w.dtype == DType::F16) && m >= 1 && m <= kMaxSkinnyRows && w.rows > 0 &&
         w.cols > 0 && w.cols % kChunk == 0;
}

int64_t skinny_gemm_row_tiles(int64_t n) { return (n + kTileRows - 1) / kTileRows; }

int skinny_gemm_splits(int64_t n, int64_t k, int blocks_per_wave) {
  // As many splits as fill one wave without starting a second, each of at least 256 columns.
  const int64_t by_wave = std::max<int64_t>(1, blocks_per_wave / skinny_gemm_row_tiles(n));
  const int64_t by_length = std::max<int64_t>(1, k / kChunk / kMinChunksPerSplit);
  return static_cast<int>(std::min<int64_t>({by_wave, by_length, kMaxSplits}));
}

size_t skinny_gemm_partials_bytes(int64_t m, int64_t n, int splits) {
  return splits > 1 ? sizeof(float) * static_cast<size_t>(splits * m * n) : 0;
}

void launch_skinny_gemm(const SkinnyGemmArgs& a, cudaStream_t stream) {
  if (a.m == 0 || a.w.rows == 0) return;
  if (!skinny_gemm_supports(a.w, a.m))
    throw Error("skinny GEMM: needs f16/bf16 weights with a multiple of 64 columns and 1 to " +
                std::to_string(kMaxSkinnyRows) + " rows of activations (m " + std::to_string(a.m) + ", " +
                std::to_string(a.w.rows) + " x " + std::to_string(a.w.cols) + ")");
  const int64_t chunks = a.w.cols / kChunk;
  if (a.splits < 1 || a.splits > chunks)
    throw Error("skinny GEMM: " + std::to_string(a.splits) + " splits of " + std::to_string(chunks) + " column chunks");
  if (a.splits > 1 && (!a.partials || !a.counters)) throw Error("skinny GEMM: splits need partials and counters");
  if (a.x_stride % 8 != 0 || reinterpret_cast<uintptr_t>(a.x) % 16 != 0 || reinterpret_cast<uintptr_t>(a.w.data) % 16 != 0)
    throw Error("skinny GEMM: activation and weight rows must be 16-byte aligned");
  if (a.w.dtype == DType::BF16) launch_typed<true>(a, stream);
  else launch_typed<false>(a, stream);
}

}  // namespace strata::cuda
