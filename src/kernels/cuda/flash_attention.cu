// Prefill attention on the tensor cores (f16 KV cache, head_dim 64 or 128), in the manner
// of FlashAttention-2: a thread block takes 64 consecutive query tokens of one sequence
// and one query head, four warps of 16 query rows each. Key/value tiles of 64 positions
// are gathered through the block table into shared memory; each warp computes its scores
// S = Q Kᵀ with mma.sync (m16n8k16, f16 operands, f32 accumulation), keeps the online
// softmax of its rows in registers (the accumulator layout of mma is documented, so the
// rows a thread holds are known), and multiplies P (rounded to f16) by V the same way.
// Q is rounded to f16 after the softmax scale (times log2 e, so that exp2 gives e^x).
// Decode (one query a sequence) has its own kernel (decode_attention.cu): the heads of a
// GQA group are the rows there.
#include <cuda_fp16.h>

#include <cmath>

#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/flash_tile.cuh"

namespace strata::cuda {

namespace {

constexpr int kRows = 64;     // query tokens of a block (= kFlashQueryTokens)
constexpr int kKeys = 64;     // key positions of a tile
constexpr int kWarps = 4;     // 16 query rows each
constexpr int kPad = 8;       // halves of padding per shared-memory row: ldmatrix rows fall in distinct banks

template <int D>
__global__ void __launch_bounds__(kWarps * 32) flash_attention_kernel(AttentionArgs a) {
  wait_for_previous_kernel();
  constexpr int kStride = D + kPad;  // halves per shared-memory row
  constexpr int kChunks = D / 8;     // 16-byte chunks per row
  extern __shared__ uint4 smem_raw[];
  __half* sq = reinterpret_cast<__half*>(smem_raw);  // [kRows][kStride]
  __half* sk = sq + kRows * kStride;                 // [kKeys][kStride]
  __half* sv = sk + kKeys * kStride;                 // [kKeys][kStride]

  const AttentionItem item = a.items[blockIdx.x];
  const int head = blockIdx.y;
  const int kv_head = head / (a.num_heads / a.cache.kv_heads);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int first_position = item.max_position - (item.count - 1);  // the item's tokens are consecutive
  const float q_scale = a.scale * 1.4426950408889634f;              // log2 e: exp2 below

  // Q rows (zeros past the item's tokens).
  for (int c = tid; c < kRows * (D / 2); c += kWarps * 32) {
    const int row = c / (D / 2), pair = c % (D / 2);
    float2 v = make_float2(0.f, 0.f);
    if (row < item.count) {
      const float* src = a.q + int64_t{item.first_token + row} * a.q_token_stride + int64_t{head} * a.q_head_stride;
      v = *reinterpret_cast<const float2*>(src + 2 * pair);
    }
    *reinterpret_cast<__half2*>(sq + row * kStride + 2 * pair) = __floats2half2_rn(v.x * q_scale, v.y * q_scale);
  }
  __syncthreads();
  // This warp's Q fragments for every 16 dimensions.
  uint32_t qf[D / 16][4];
#pragma unroll
  for (int ks = 0; ks < D / 16; ++ks) ldmatrix_x4(qf[ks], sq + (warp * 16 + lane % 16) * kStride + ks * 16 + (lane / 16) * 8);

  // Rows this thread holds in the accumulators: r0 = lane / 4 and r0 + 8 of the warp's 16.
  const int r0 = warp * 16 + lane / 4;
  const int pos_lo = first_position + r0, pos_hi = pos_lo + 8;
  FlashRows<D> rows;

  const int32_t* table = a.block_tables + int64_t{item.seq} * a.max_blocks;
  const __half* k_cache = static_cast<const __half*>(a.cache.k);
  const __half* v_cache = static_cast<const __half*>(a.cache.v);
  const int64_t row_elems = int64_t{a.cache.kv_heads} * D;
  const int last_key = item.max_position;

  for (int tile = 0; tile <= last_key; tile += kKeys) {
    __syncthreads();  // the previous tile is no longer read
    for (int c = tid; c < kKeys * kChunks; c += kWarps * 32) {
      const int j = c / kChunks, chunk = c % kChunks;
      const int pos = tile + j;
      uint4 kv_k = make_uint4(0, 0, 0, 0), kv_v = make_uint4(0, 0, 0, 0);
      if (pos <= last_key) {
        const int64_t slot = int64_t{table[pos / a.cache.block_size]} * a.cache.block_size + pos % a.cache.block_size;
        const int64_t at = slot * row_elems + int64_t{kv_head} * D + chunk * 8;
        kv_k = *reinterpret_cast<const uint4*>(k_cache + at);
        kv_v = *reinterpret_cast<const uint4*>(v_cache + at);
      }
      *reinterpret_cast<uint4*>(sk + j * kStride + chunk * 8) = kv_k;
      *reinterpret_cast<uint4*>(sv + j * kStride + chunk * 8) = kv_v;
    }
    __syncthreads();
    if (tile > first_position + warp * 16 + 15) continue;  // every key is in the future of this warp's rows
    flash_attend_tile<D, kKeys, kStride>(qf, sk, sv, tile, pos_lo, pos_hi, last_key, lane, rows);
  }

  // Normalise and store the rows of real tokens.
  const float inv_lo = rows.l_lo > 0.f ? 1.f / rows.l_lo : 0.f, inv_hi = rows.l_hi > 0.f ? 1.f / rows.l_hi : 0.f;
  const int dim0 = (lane % 4) * 2;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int row = r0 + 8 * half;
    if (row >= item.count) continue;
    float* dst = a.out + int64_t{item.first_token + row} * a.out_stride + int64_t{head} * D + dim0;
    const float inv = half == 0 ? inv_lo : inv_hi;
#pragma unroll
    for (int db = 0; db < D / 8; ++db)
      *reinterpret_cast<float2*>(dst + db * 8) = make_float2(rows.o[db][2 * half] * inv, rows.o[db][2 * half + 1] * inv);
  }
}

template <int D>
void launch_for(const AttentionArgs& a, cudaStream_t stream) {
  const size_t smem = sizeof(__half) * size_t{kRows + 2 * kKeys} * (D + kPad);
  static bool raised = false;  // the opt-in above 48 KB is per kernel, once is enough
  if (!raised) {
    cuda_check(cudaFuncSetAttribute(flash_attention_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)),
               "cudaFuncSetAttribute(flash_attention_kernel)");
    raised = true;
  }
  const dim3 grid(static_cast<unsigned>(a.num_items), static_cast<unsigned>(a.num_heads));
  launch_kernel(flash_attention_kernel<D>, grid, kWarps * 32, smem, stream, a);
  check_launch("flash_attention_kernel");
}

}  // namespace

bool flash_attention_supports(const KVLayer& cache) {
  return cache.f16 && (cache.head_dim == 64 || cache.head_dim == 128);
}

void launch_flash_attention(const AttentionArgs& a, cudaStream_t stream) {
  if (a.num_items == 0) return;
  if (!flash_attention_supports(a.cache) || a.tokens_per_item != kFlashQueryTokens || a.splits != 1)
    throw Error("flash attention: needs an f16 cache, head_dim 64 or 128 and items of " +
                std::to_string(kFlashQueryTokens) + " tokens");
  if (a.q_token_stride % 2 != 0 || a.q_head_stride % 2 != 0 || a.out_stride % 2 != 0)
    throw Error("flash attention: q and out rows must be 8-byte aligned");
  if (a.cache.head_dim == 64) launch_for<64>(a, stream);
  else launch_for<128>(a, stream);
}

}  // namespace strata::cuda
