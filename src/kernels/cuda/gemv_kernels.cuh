#pragma once
// The small-batch GEMV kernels (gemv.cu describes them) and their launchers for MaxM rows:
// a header so that each row count's kernels compile in a file of their own (gemv_rows_1.cu
// ... gemv_rows_8.cu, in parallel: one file of all of them took a minute), gemv.cu choosing
// among them.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <string>

#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/quant_device.cuh"
#include "kernels/cuda/block_dot.cuh"
#include "kernels/cuda/half_unpack.cuh"
#include "kernels/cuda/blocks_in_flight.cuh"
#include "kernels/cuda/env_switch.h"
#include "kernels/cuda/kv_cache_device.cuh"
#include "kernels/cuda/rope_device.cuh"

namespace strata::cuda::gemv_detail {


// Each warp computes kRowsPerWarp output rows, so that every activation chunk loaded from
// L1 serves several weight rows (for 4-bit weights the activations are 8x the bytes of the
// weights they meet); each lane keeps kUnroll chunks of every row in flight.
constexpr int kWarpsPerBlock = 4;
constexpr int kRowsPerWarp = 2;

// One product of a launch (its activations are the batch's).
struct GemvArgs {
  float* y;
  int64_t y_stride;
  int m;
  WeightRef w;
  bool accumulate;
  int target;  // index in GemvBatch::targets
};

// The products of one launch (launch_gemv_many): target i takes blocks
// [first_block[i], first_block[i + 1]) of the grid. SwiGLU (launch_gemv_swiglu): one
// target, the gate, whose warps each read one gate row and the same row of `up` and store
// silu(gate) * up.
struct GemvBatch {
  const float* x;
  int64_t x_stride;
  int m;
  int count;
  GemvTarget targets[kMaxGemvTargets];
  int32_t first_block[kMaxGemvTargets + 1];
  bool swiglu;
  WeightRef up;
  GemvNorm norm;  // Normed kernels: the products read rms_norm(x) * norm.weight
  SplitRows split;  // gemv_split_kernel: the products read these instead of x
  int split_k;      // 1, or kWarpsPerBlock: warps sharing a block's rows (finish_rows)
  GemvRope rope;    // positions set: targets 0, 1, 2 are q, k, v (store_attention_inputs)
  // The first weight loads go out before waiting for the previous kernel (dependent
  // launch); STRATA_CUDA_EARLY_LOADS=0 issues them after it, for A/B runs.
  bool early_loads;
  // gemv_half_mma.cu's kernel takes the launch (f32 x, Q4_0 weights, one row).
  bool half_mma;
};

// How a launch's products see a folded RMSNorm: not at all (they read x), as the block's
// normalized copy of x in shared memory (the f32-activation path of block-quantized
// weights, rows that fit kMaxNormedGemvBytes), or, for float weights, as x * weight on the
// fly with each row's 1 / rms applied to the finished sums (no shared copy, no size
// limit). The sums of squares behind the rms: for short rows (a warp's first loads cover
// them) added up in the product loop from the x values it reads anyway (SquaresInLoop,
// no pass of its own: the latency-bound small shapes), for longer rows by the block after
// its products (Scaled: the loop's arithmetic untouched). Squares in the loop everywhere
// read 8B BF16 194.86 against 202.32 tok/s, SmolLM2 1,360.50 against 1,313.91 (H200,
// session 10, two runs on different machines: within their 3-5% spread, so suggestive only).
enum class Norm { None, Shared, Scaled, SquaresInLoop };

__host__ __device__ constexpr bool scales_sums(Norm n) { return n == Norm::Scaled || n == Norm::SquaresInLoop; }

// Shared-norm kernels' activations: the block's m rows of rms_norm(x) * weight, [m, cols].
extern __shared__ float4 gemv_normed[];

// 1 / rms of each of the m rows of x, by every thread of the block (two barriers).
template <int MaxM>
__device__ __forceinline__ void block_inv_rms_rows(const GemvBatch& b, int64_t cols, float (&inv_rms)[MaxM]) {
  __shared__ float partial[kWarpsPerBlock][MaxM];
  float sum[MaxM] = {};
#pragma unroll
  for (int m = 0; m < MaxM; ++m) {
    if (m >= b.m) break;
    const float4* row = reinterpret_cast<const float4*>(b.x + m * b.x_stride);
    for (int64_t i = threadIdx.x; i < cols / 4; i += blockDim.x) {
      const float4 v = row[i];
      sum[m] += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
  }
#pragma unroll
  for (int m = 0; m < MaxM; ++m) {
    const float s = warp_sum(sum[m]);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32][m] = s;
  }
  __syncthreads();
#pragma unroll
  for (int m = 0; m < MaxM; ++m) {
    float total = 0.f;
    for (int w = 0; w < kWarpsPerBlock; ++w) total += partial[w][m];
    inv_rms[m] = rsqrtf(total / static_cast<float>(cols) + b.norm.eps);
  }
  __syncthreads();
}

// Every thread of the block takes part (four barriers): the same float operations as
// rms_norm_kernel, the sum of squares in another order.
template <int MaxM>
__device__ __forceinline__ void normalize_into_shared(const GemvBatch& b, int64_t cols) {
  float inv_rms[MaxM];
  block_inv_rms_rows<MaxM>(b, cols, inv_rms);
  float* out = reinterpret_cast<float*>(gemv_normed);
#pragma unroll
  for (int m = 0; m < MaxM; ++m) {
    if (m >= b.m) break;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
      out[m * cols + i] = b.x[m * b.x_stride + i] * inv_rms[m] * b.norm.weight[i];
  }
  __syncthreads();
}

// Activation row m as the products read it: x itself, or its normalized copy.
template <Norm N>
__device__ __forceinline__ const float4* activation_row(const GemvBatch& b, int m, int64_t cols) {
  if constexpr (N == Norm::Shared) return reinterpret_cast<const float4*>(reinterpret_cast<const float*>(gemv_normed) + m * cols);
  else return reinterpret_cast<const float4*>(b.x + m * b.x_stride);
}

// x is read-only during a product: through the non-coherent cache, shared by a warp's rows.
template <Norm N>
__device__ __forceinline__ float4 load_activation(const float4* p) {
  if constexpr (N == Norm::Shared) return *p;
  else return __ldg(p);
}

// This block's product, and its block index within that product.
// The targets are picked with constant indices: indexing the parameter array with a
// runtime value can make the compiler copy it to local memory.
__device__ __forceinline__ GemvArgs resolve(const GemvBatch& b, int64_t& block) {
  GemvTarget t = b.targets[0];
  int32_t first = 0;
  int target = 0;
#pragma unroll
  for (int i = 1; i < kMaxGemvTargets; ++i)
    if (i < b.count && static_cast<int32_t>(blockIdx.x) >= b.first_block[i])
      t = b.targets[i], first = b.first_block[i], target = i;
  block = int64_t{blockIdx.x} - first;
  return GemvArgs{t.y, t.y_stride, b.m, t.w, t.accumulate, target};
}

// 2^23 + n as a float is exact for small n: an OR and a subtraction instead of a slow
// integer-to-float conversion. `bias` is 2^23 plus whatever offset the format subtracts.
__device__ __forceinline__ float small_uint_to_float(uint32_t n, float bias) {
  return __int_as_float(0x4B000000u | n) - bias;
}

// Q4: byte i holds element i (low nibble) and element i + 16 (high nibble).
__device__ __forceinline__ void unpack_q4(const uint4& v, float bias, float* w) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint32_t byte = (words[i] >> (8 * k)) & 0xffu;
      w[4 * i + k] = small_uint_to_float(byte & 15u, bias);
      w[16 + 4 * i + k] = small_uint_to_float(byte >> 4, bias);
    }
}

// Q8: signed bytes, made unsigned by flipping the sign bit (bias then takes 128 off).
__device__ __forceinline__ void unpack_q8(const uint4& v, float* w) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int k = 0; k < 4; ++k) w[4 * i + k] = small_uint_to_float(((words[i] >> (8 * k)) & 0xffu) ^ 0x80u, 8388736.f);
}

// The weights were written before the previous kernel ran: a thread's first loads go out
// before waiting for that kernel, so that they overlap its tail (GemvBatch::early_loads;
// after the wait for A/B runs). `load` is skipped where `loads` is false (warps past the end).
template <typename Load>
__device__ __forceinline__ void first_loads_then_wait(const GemvBatch& b, bool loads, Load&& load) {
  if (loads && b.early_loads) load();
  wait_for_previous_kernel();
  if (loads && !b.early_loads) load();
}

static_assert(kRowsPerWarp == 2, "the SwiGLU and rope epilogues pair a warp's two rows (gate and up, a rotary pair)");

// Rows n0 and n0 + 1 of q, k or v for token m (GemvRope): q and k rotated as
// rope_store_kv_kernel rotates them (the same angle and rounding code), k and v into
// their cache slot. Rows of a head are consecutive, so row n0 of k or v is element n0 of
// the token's slot.
__device__ __forceinline__ void store_attention_inputs(const GemvRope& rope, const GemvArgs& a, int64_t n0, int m,
                                                       float x0, float x1, RopeAngle angle) {
  const int dim = rope.cache.head_dim;
  if (a.target < 2) rotate_pair(x0, x1, angle);
  float* y = a.y + m * a.y_stride + n0;
  y[0] = x0;
  y[1] = x1;
  const int32_t slot = rope.slots[m];
  if (a.target == 0 || !cache_slot_valid(rope.cache, slot)) return;
  const int64_t index = int64_t{slot} * rope.cache.kv_heads * dim + n0;
  void* base = a.target == 1 ? rope.cache.k : rope.cache.v;
  store_cache_value(rope.cache, base, index, x0);
  store_cache_value(rope.cache, base, index + 1, x1);
}

// The rotation of token `lane` for this warp's row pair, on q and k rows of a rope launch
// (identity elsewhere): computed by lane m for token m before the products, so that its
// latency hides under theirs; finish_rows hands the angles to lane 0.
__device__ __forceinline__ RopeAngle lane_rope_angle(const GemvBatch& b, const GemvArgs& a, int64_t n0) {
  const int lane = threadIdx.x % 32;
  if (!b.rope.positions || a.target >= 2 || lane >= a.m || n0 >= a.w.rows) return {1.f, 0.f};
  return rope_angle(b.rope.positions[lane], b.rope.inv_freq[(n0 % b.rope.cache.head_dim) / 2]);
}

// What each thread summed: its part of every dot product, and (Norm::SquaresInLoop) of
// each activation row's sum of squares, whose total gives the row's 1 / rms.
template <int MaxM>
struct PartialSums {
  float dot[MaxM][kRowsPerWarp] = {};
  float squares[MaxM] = {};
};

// Adds up the threads' partial sums and stores the rows. SplitK > 1: the block's warps
// share its rows, each summing a part of every row (for products of few rows, which would
// leave most SMs idle and the rest latency-bound), and warp 0 adds the parts in order.
template <int SplitK, bool WithSquares, int MaxM>
__device__ __forceinline__ void finish_rows(const PartialSums<MaxM>& p, const GemvBatch& b, const GemvArgs& a,
                                            int64_t n0, RopeAngle angle) {
  constexpr int kSums = kRowsPerWarp + (WithSquares ? 1 : 0);  // the dot products, then the squares
  float s[MaxM][kSums];
#pragma unroll
  for (int m = 0; m < MaxM; ++m) {
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) s[m][r] = warp_sum(p.dot[m][r]);
    if constexpr (WithSquares) s[m][kRowsPerWarp] = warp_sum(p.squares[m]);
  }
  if constexpr (SplitK > 1) {
    __shared__ float parts[SplitK][MaxM][kSums];
    if (threadIdx.x % 32 == 0)
#pragma unroll
      for (int m = 0; m < MaxM; ++m)
#pragma unroll
        for (int r = 0; r < kSums; ++r) parts[threadIdx.x / 32][m][r] = s[m][r];
    __syncthreads();
    if (threadIdx.x >= 32) return;
#pragma unroll
    for (int m = 0; m < MaxM; ++m)
#pragma unroll
      for (int r = 0; r < kSums; ++r) {
        s[m][r] = parts[0][m][r];
        for (int w = 1; w < SplitK; ++w) s[m][r] += parts[w][m][r];
      }
  }
  RopeAngle rotation[MaxM];  // token m's angle, from lane m (every lane of the warp is here)
  if (b.rope.positions) {
#pragma unroll
    for (int m = 0; m < MaxM; ++m)
      rotation[m] = {__shfl_sync(0xffffffffu, angle.cos_a, m), __shfl_sync(0xffffffffu, angle.sin_a, m)};
  }
  if (threadIdx.x % 32 != 0) return;
  if constexpr (WithSquares) {
#pragma unroll
    for (int m = 0; m < MaxM; ++m) {
      const float inv_rms = rsqrtf(s[m][kRowsPerWarp] / static_cast<float>(a.w.cols) + b.norm.eps);
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) s[m][r] *= inv_rms;
    }
  }
#pragma unroll
  for (int m = 0; m < MaxM; ++m) {
    if (m >= a.m) continue;
    if (b.swiglu) {
      a.y[m * a.y_stride + n0] = silu_times(s[m][0], s[m][1]);
      continue;
    }
    if (b.rope.positions) {
      store_attention_inputs(b.rope, a, n0, m, s[m][0], s[m][1], rotation[m]);
      continue;
    }
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r)
      if (n0 + r < a.w.rows) {
        float& out = a.y[m * a.y_stride + n0 + r];
        out = a.accumulate ? out + s[m][r] : s[m][r];
      }
  }
}

__device__ __forceinline__ int64_t clamp_row(int64_t n, int64_t rows) { return n < rows ? n : rows - 1; }

// What one warp reads: the first output row it stores, and the weight and row of each of
// its kRowsPerWarp dot products (consecutive rows of one weight, or the gate and up rows
// of one SwiGLU output). A row past the end re-reads the last one; its result is never
// stored.
struct WarpRows {
  int64_t n0;
  WeightRef w[kRowsPerWarp];
  int64_t row[kRowsPerWarp];
};

template <int SplitK>
__device__ __forceinline__ WarpRows warp_rows(const GemvBatch& b, const GemvArgs& a, int64_t block) {
  const int64_t warp = SplitK > 1 ? block : block * kWarpsPerBlock + threadIdx.x / 32;  // its row group
  WarpRows out;
  if (b.swiglu) {
    out.n0 = warp;
    out.w[0] = a.w;
    out.w[1] = b.up;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) out.row[r] = clamp_row(warp, a.w.rows);
  } else {
    out.n0 = warp * kRowsPerWarp;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) out.w[r] = a.w, out.row[r] = clamp_row(out.n0 + r, a.w.rows);
  }
  return out;
}

// Float weights: a chunk is 8 weights (16 bytes of f16/bf16, 32 bytes of f32).
template <int MaxM, DType Type, Norm N, int SplitK>
__global__ void __launch_bounds__(kWarpsPerBlock * 32) gemv_float_kernel(GemvBatch batch) {
  static_assert(N != Norm::Shared, "float weights fold the norm as scaled sums");
  constexpr bool kScaled = scales_sums(N);
  // Four 16-byte chunks of each row in flight per lane: eight measured slower for batch-1
  // 8B BF16 (174 vs 186 tok/s, H200, 2026-12-02).
  constexpr int kUnroll = Type == DType::F32 ? 2 : 4;
  constexpr int kLoads = Type == DType::F32 ? 2 : 1;  // 16-byte loads per chunk
  int64_t block;
  const GemvArgs a = resolve(batch, block);
  const WarpRows work = warp_rows<SplitK>(batch, a, block);
  const int64_t n0 = work.n0;
  // A warp past the end leaves at once (split-K: the whole block, with its warps), unless
  // its block computes the rms after the products.
  const bool active = n0 < a.w.rows;
  if (N != Norm::Scaled && !active) return wait_for_previous_kernel();
  // This thread's first chunk of each row, and the step between its chunks.
  constexpr int kStride = 32 * SplitK;
  const int lane = SplitK > 1 ? threadIdx.x : threadIdx.x % 32;
  const int64_t chunks = a.w.cols / 8, row_bytes = a.w.cols * (Type == DType::F32 ? 4 : 2);
  const uint8_t* rows[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) rows[r] = static_cast<const uint8_t*>(work.w[r].data) + work.row[r] * row_bytes;
  uint4 raw[kUnroll][kRowsPerWarp][kLoads];
  const auto load_chunks = [&](int64_t c0) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
        for (int l = 0; l < kLoads; ++l)
          if (c0 + kStride * u < chunks) raw[u][r][l] = load_streaming(rows[r] + (c0 + kStride * u) * 16 * kLoads + 16 * l);
  };
  first_loads_then_wait(batch, active, [&] { load_chunks(lane); });
  const RopeAngle angle = lane_rope_angle(batch, a, n0);
  PartialSums<MaxM> sums;
  for (int64_t c0 = lane; active && c0 < chunks; c0 += kStride * kUnroll) {
    if (c0 != lane) load_chunks(c0);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + kStride * u;
      if (c >= chunks) break;
      float w[kRowsPerWarp][8];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        if constexpr (Type == DType::F32) {
          const float* f = reinterpret_cast<const float*>(raw[u][r]);
#pragma unroll
          for (int i = 0; i < 8; ++i) w[r][i] = f[i];
        } else if constexpr (Type == DType::BF16) {
          unpack_bf16x8(raw[u][r][0], w[r]);
        } else {
          unpack_half8(raw[u][r][0], w[r]);
        }
      }
      float4 g0, g1;  // the norm's weights of this chunk (scaled sums)
      if constexpr (kScaled) {
        const float4* g = reinterpret_cast<const float4*>(batch.norm.weight) + c * 2;
        g0 = __ldg(g);
        g1 = __ldg(g + 1);
      }
#pragma unroll
      for (int m = 0; m < MaxM; ++m) {
        if (MaxM > 1 && m >= a.m) break;
        const float4* xv = activation_row<N>(batch, m, a.w.cols) + c * 2;
        float4 x0 = load_activation<N>(xv), x1 = load_activation<N>(xv + 1);
        if constexpr (N == Norm::SquaresInLoop)  // the threads of a row group see each x once
          sums.squares[m] += x0.x * x0.x + x0.y * x0.y + x0.z * x0.z + x0.w * x0.w + x1.x * x1.x + x1.y * x1.y +
                             x1.z * x1.z + x1.w * x1.w;
        if constexpr (kScaled) x0 = times(x0, g0), x1 = times(x1, g1);
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r)
          sums.dot[m][r] += x0.x * w[r][0] + x0.y * w[r][1] + x0.z * w[r][2] + x0.w * w[r][3] + x1.x * w[r][4] +
                            x1.y * w[r][5] + x1.z * w[r][6] + x1.w * w[r][7];
      }
    }
  }
  if constexpr (N == Norm::Scaled) {
    float inv_rms[MaxM];
    block_inv_rms_rows<MaxM>(batch, a.w.cols, inv_rms);
    if (!active) return;
#pragma unroll
    for (int m = 0; m < MaxM; ++m)
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) sums.dot[m][r] *= inv_rms[m];
  }
  finish_rows<SplitK, N == Norm::SquaresInLoop>(sums, batch, a, n0, angle);
}

// Repacked Q8_0 / Q4_0 / Q4_1: a chunk is one 32-weight block; its quants are dotted with
// the activations as integer-valued floats and scaled once per block (Q4_1 adds its min
// times the sum of the activations).
template <int MaxM, DType Type, Norm N>
__global__ void __launch_bounds__(kWarpsPerBlock * 32) gemv_quant_kernel(GemvBatch batch) {
  static_assert(!scales_sums(N), "block-quantized weights fold the norm into shared memory only");
  constexpr int kUnroll = 2;
  constexpr float kBias = Type == DType::Q4_0 ? 8388616.f : 8388608.f;  // 2^23 (+ Q4_0's offset 8)
  int64_t block;
  const GemvArgs a = resolve(batch, block);
  const WarpRows work = warp_rows<1>(batch, a, block);
  const int64_t n0 = work.n0;
  // A warp past the end leaves at once, unless it must help normalize the activations.
  const bool active = n0 < a.w.rows;
  if (N == Norm::None && !active) return wait_for_previous_kernel();
  const int lane = threadIdx.x % 32;
  const int64_t blocks = a.w.cols / 32;
  BlocksInFlight<Type, kUnroll, kRowsPerWarp> in(work.w, work.row, a.w.cols);
  auto& raw = in.raw;
  const auto& scale = in.scale;
  const auto& min = in.min;
  first_loads_then_wait(batch, active, [&] { in.load(lane); });
  if constexpr (N == Norm::Shared) normalize_into_shared<MaxM>(batch, a.w.cols);
  if (!active) return;
  const RopeAngle angle = lane_rope_angle(batch, a, n0);
  PartialSums<MaxM> sums;
  for (int64_t b0 = lane; b0 < blocks; b0 += 32 * kUnroll) {
    if (b0 != lane) in.load(b0);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t b = b0 + 32 * u;
      if (b >= blocks) break;
      // Both rows' weights are decoded first, so that each activation vector is loaded once
      // for both rows (the compiler does not merge the loads across the rows' branches).
      float w[kRowsPerWarp][32];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        if constexpr (Type == DType::Q8_0) {
          unpack_q8(raw[u][r][0], w[r]);
          unpack_q8(raw[u][r][1], w[r] + 16);
        } else {
          unpack_q4(raw[u][r][0], kBias, w[r]);
        }
      }
#pragma unroll
      for (int m = 0; m < MaxM; ++m) {
        if (MaxM > 1 && m >= a.m) break;
        const float4* xv = activation_row<N>(batch, m, a.w.cols) + b * 8;
        float dot[kRowsPerWarp] = {}, sum = 0.f;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const float4 xj = load_activation<N>(xv + j);
#pragma unroll
          for (int r = 0; r < kRowsPerWarp; ++r)
            dot[r] += xj.x * w[r][4 * j] + xj.y * w[r][4 * j + 1] + xj.z * w[r][4 * j + 2] + xj.w * w[r][4 * j + 3];
          if constexpr (Type == DType::Q4_1) sum += xj.x + xj.y + xj.z + xj.w;
        }
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) sums.dot[m][r] += scale[u][r] * dot[r] + min[u][r] * sum;
      }
    }
  }
  finish_rows<1, false>(sums, batch, a, n0, angle);
}

__device__ __forceinline__ SplitGroup load_group(const SplitGroup* p) {
  const int4 v = __ldg(reinterpret_cast<const int4*>(p));
  return {__int_as_float(v.x), __int_as_float(v.y), v.z, v.w};
}

// Block-quantized weights with split int16 activations (SplitRows): per block and row, 8
// dp4a on the high bytes and 8 on the low ones, 256 hi + lo exact in int32, then one f32
// update, as the CPU backend's integer kernels compute. The activations are 2 bytes a value
// instead of 4 and the weights need no decoding to floats, which bound the f32 kernel.
// A warp (SplitK > 1: a block) takes one row group and, on rows of 4,096, loads all of it in
// one round: fewer blocks a lane (fewer registers, more blocks an SM), rows spread over a
// block's warps everywhere, and warps taking several row groups with the next one's loads
// in flight all measured slower (session 19, bench/cuda/NOTES.md).
template <int MaxM, DType Type, int SplitK>
__global__ void __launch_bounds__(kWarpsPerBlock * 32) gemv_split_kernel(GemvBatch batch) {
  constexpr int kUnroll = 4;
  int64_t block;
  const GemvArgs a = resolve(batch, block);
  const WarpRows work = warp_rows<SplitK>(batch, a, block);
  const int64_t n0 = work.n0;
  if (n0 >= a.w.rows) return wait_for_previous_kernel();
  constexpr int kStride = 32 * SplitK;  // as in gemv_float_kernel
  const int lane = SplitK > 1 ? threadIdx.x : threadIdx.x % 32;
  const int64_t blocks = a.w.cols / 32;
  BlocksInFlight<Type, kUnroll, kRowsPerWarp, kStride> in(work.w, work.row, a.w.cols);
  first_loads_then_wait(batch, true, [&] { in.load(lane); });
  const RopeAngle angle = lane_rope_angle(batch, a, n0);
  const SplitRows& x = batch.split;
  PartialSums<MaxM> sums;
  for (int64_t b0 = lane; b0 < blocks; b0 += kStride * kUnroll) {
    if (b0 != lane) in.load(b0);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t b = b0 + kStride * u;
      if (b >= blocks) break;
#pragma unroll
      for (int m = 0; m < MaxM; ++m) {
        if (MaxM > 1 && m >= a.m) break;
        const int4* hi = reinterpret_cast<const int4*>(x.hi + m * a.w.cols + b * 32);
        const int4* lo = reinterpret_cast<const int4*>(x.lo + m * a.w.cols + b * 32);
        const int4 h0 = __ldg(hi), h1 = __ldg(hi + 1), l0 = __ldg(lo), l1 = __ldg(lo + 1);
        const SplitGroup g = load_group(x.groups + m * blocks + b);
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
          int dot = 256 * block_dot<Type>(in.raw[u][r], h0, h1) + block_dot<Type>(in.raw[u][r], l0, l1);
          if constexpr (Type == DType::Q4_0) dot -= 8 * g.q_sum;  // quants are stored + 8
          const float scaled = g.d * static_cast<float>(dot);
          if constexpr (Type == DType::Q4_1) sums.dot[m][r] += in.scale[u][r] * scaled + in.min[u][r] * g.sum;
          else sums.dot[m][r] += in.scale[u][r] * scaled;
        }
      }
    }
  }
  finish_rows<SplitK, false>(sums, batch, a, n0, angle);
}

template <int MaxM, int SplitK>
void launch_split(const GemvBatch& b, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(b.first_block[b.count]));
  const int threads = kWarpsPerBlock * 32;
  switch (b.targets[0].w.dtype) {
    case DType::Q8_0: launch_kernel(gemv_split_kernel<MaxM, DType::Q8_0, SplitK>, grid, threads, 0, stream, b); break;
    case DType::Q4_0: launch_kernel(gemv_split_kernel<MaxM, DType::Q4_0, SplitK>, grid, threads, 0, stream, b); break;
    case DType::Q4_1: launch_kernel(gemv_split_kernel<MaxM, DType::Q4_1, SplitK>, grid, threads, 0, stream, b); break;
    default: throw Error("gemv: split activations need block-quantized weights, not " +
                         std::string(dtype_name(b.targets[0].w.dtype)));
  }
}

// Where scaled-sum norms add up their squares: by row length (the default), or, for A/B
// runs, always in the product loop (STRATA_CUDA_NORM=squares-in-loop) or always after the
// products (STRATA_CUDA_NORM=squares-after); read once.
enum class SquaresPlacement { ByRowLength, InLoop, After };
inline SquaresPlacement squares_placement() {
  static const SquaresPlacement place = env_is("STRATA_CUDA_NORM", "squares-in-loop") ? SquaresPlacement::InLoop
                                        : env_is("STRATA_CUDA_NORM", "squares-after") ? SquaresPlacement::After
                                                                                      : SquaresPlacement::ByRowLength;
  return place;
}

template <int MaxM, Norm N, int SplitK>
void launch_float(const GemvBatch& b, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(b.first_block[b.count]));
  const int threads = kWarpsPerBlock * 32;
  switch (b.targets[0].w.dtype) {
    case DType::F32: launch_kernel(gemv_float_kernel<MaxM, DType::F32, N, SplitK>, grid, threads, 0, stream, b); break;
    case DType::F16: launch_kernel(gemv_float_kernel<MaxM, DType::F16, N, SplitK>, grid, threads, 0, stream, b); break;
    case DType::BF16: launch_kernel(gemv_float_kernel<MaxM, DType::BF16, N, SplitK>, grid, threads, 0, stream, b); break;
    default: throw Error("gemv: no float kernel for weight dtype " + std::string(dtype_name(b.targets[0].w.dtype)));
  }
}

template <int MaxM, Norm N>
void launch_quant(const GemvBatch& b, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(b.first_block[b.count]));
  const int threads = kWarpsPerBlock * 32;
  const size_t shared = N == Norm::Shared ? static_cast<size_t>(b.m * b.targets[0].w.cols) * sizeof(float) : 0;
  switch (b.targets[0].w.dtype) {
    case DType::Q8_0: launch_kernel(gemv_quant_kernel<MaxM, DType::Q8_0, N>, grid, threads, shared, stream, b); break;
    case DType::Q4_0: launch_kernel(gemv_quant_kernel<MaxM, DType::Q4_0, N>, grid, threads, shared, stream, b); break;
    case DType::Q4_1: launch_kernel(gemv_quant_kernel<MaxM, DType::Q4_1, N>, grid, threads, shared, stream, b); break;
    default: throw Error("gemv: no kernel for weight dtype " + std::string(dtype_name(b.targets[0].w.dtype)));
  }
}

inline bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

template <int MaxM, int SplitK>
void launch_for_rows(const GemvBatch& b, cudaStream_t stream) {
  if (b.split.hi) return launch_split<MaxM, SplitK>(b, stream);
  const bool floats = is_float(b.targets[0].w.dtype);
  if (!floats) {
    if (b.norm.weight) launch_quant<MaxM, Norm::Shared>(b, stream);
    else launch_quant<MaxM, Norm::None>(b, stream);
  } else if (b.norm.weight) {
    // A warp's first loads take each of its chunks when a row has at most 4 (kUnroll of
    // the 16-bit types) a lane.
    const int64_t pass = int64_t{32} * SplitK * 4 * 8;
    const SquaresPlacement place = squares_placement();
    const bool in_loop = place == SquaresPlacement::ByRowLength ? b.targets[0].w.cols <= pass
                                                                : place == SquaresPlacement::InLoop;
    if (in_loop) launch_float<MaxM, Norm::SquaresInLoop, SplitK>(b, stream);
    else launch_float<MaxM, Norm::Scaled, SplitK>(b, stream);
  } else {
    launch_float<MaxM, Norm::None, SplitK>(b, stream);
  }
}

template <int MaxM>
void launch_for_rows(const GemvBatch& b, cudaStream_t stream) {
  if (b.split_k > 1) launch_for_rows<MaxM, kWarpsPerBlock>(b, stream);
  else launch_for_rows<MaxM, 1>(b, stream);
}

// Lays out the grid: target i takes blocks [first_block[i], first_block[i + 1]), one per
// rows_per_block of its rows. Returns the grid's blocks.
inline int32_t lay_out_blocks(GemvBatch& b, int64_t rows_per_block) {
  int32_t total = 0;
  for (int i = 0; i < b.count; ++i) {
    b.first_block[i] = total;
    total += static_cast<int32_t>(blocks_for(b.targets[i].w.rows, static_cast<int>(rows_per_block)));
  }
  b.first_block[b.count] = total;
  return total;
}

// The tensor-core kernel of f16 activations and Q4_0 weights (gemv_half_mma.cu); it lays
// out its own grid.
void launch_gemv_half_mma(GemvBatch b, cudaStream_t stream);

// Defined in gemv_rows_<MaxM>.cu.
extern template void launch_for_rows<1>(const GemvBatch& b, cudaStream_t stream);
extern template void launch_for_rows<2>(const GemvBatch& b, cudaStream_t stream);
extern template void launch_for_rows<4>(const GemvBatch& b, cudaStream_t stream);
extern template void launch_for_rows<8>(const GemvBatch& b, cudaStream_t stream);

}  // namespace strata::cuda::gemv_detail
