// Decode attention on the tensor cores (one query token a sequence, f16 KV cache, head_dim
// 64 or 128, GQA groups up to 16): a thread block takes one sequence and one KV head, and
// the query heads of that KV head are the 16 rows of the mma (zeros past the group), so
// every key and value is read from memory once and from shared memory once for all heads
// of its group. The SIMT kernel (attention.cu) reads each tile from shared memory once per
// head and in f32, which bounded it by shared-memory bandwidth at ~3x its cache reads.
// The block's four warps take the sequence's tiles of 32 keys in turn, each loading its own
// tiles (cp.async, no block barrier in the loop), and merge their online softmaxes at the
// end. Few sequences split their keys over blocks (grid z) in groups of four tiles, the
// last split to finish merging the others' partial results; a decode step's rows that
// earlier steps wrote are requested before the previous kernel ends (early_kv).
// Arithmetic as the prefill kernel's (flash_tile.cuh): Q and P rounded to f16.
#include <cuda_fp16.h>

#include <cmath>

#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/flash_tile.cuh"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/l2_prefetch.cuh"

namespace strata::cuda {

namespace {

constexpr int kKeys = 32;   // key positions of a warp's tile
constexpr int kWarps = 4;   // tiles taken in turn
constexpr int kRows = 16;   // mma rows: the query heads of one KV head
constexpr int kPad = 8;     // halves of padding per shared-memory row: ldmatrix rows fall in distinct banks

template <int D>
constexpr size_t shared_bytes() {
  return sizeof(__half) * size_t{kRows + kWarps * 2 * kKeys} * (D + kPad);
}

// Which rows of a tile a call loads: all, all but the token's own (the rows earlier steps
// wrote, and zeros past the end: they may go out before the previous kernel ends), or only
// the token's own (which that kernel wrote).
enum class TileRows { All, Older, Newest };

template <int D>
__global__ void __launch_bounds__(kWarps * 32) decode_attention_kernel(AttentionArgs a) {
  if (!a.early_kv) wait_for_previous_kernel();
  constexpr int kStride = D + kPad;  // halves per shared-memory row
  constexpr int kChunks = D / 8;     // 16-byte chunks per row
  extern __shared__ uint4 smem_raw[];
  __half* sq = reinterpret_cast<__half*>(smem_raw);  // [kRows][kStride]
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  __half* sk = sq + (kRows + warp * 2 * kKeys) * kStride;  // this warp's [kKeys][kStride] keys
  __half* sv = sk + kKeys * kStride;                       // and values

  const AttentionItem item = a.items[blockIdx.x];  // one token
  const int kv_head = blockIdx.y;
  const int group = a.num_heads / a.cache.kv_heads;
  const int64_t token = item.first_token;
  const int last_key = item.max_position;
  // Key splits (few sequences): split s takes the groups of kWarps consecutive tiles s,
  // s + splits, ... (warp w the w-th tile of each); a context within one group is split
  // 0's alone, which then writes the output itself.
  const int split = blockIdx.z, splits = gridDim.z;
  const int groups = last_key / (kWarps * kKeys) + 1;
  const int active = splits < groups ? splits : groups;
  if (split >= active) {
    if (a.early_kv) wait_for_previous_kernel();
    issue_weight_prefetch(a.prefetch);
    return;
  }
  const int first_tile = (split * kWarps + warp) * kKeys, tile_step = splits * kWarps * kKeys;

  const int32_t* table = a.block_tables + int64_t{item.seq} * a.max_blocks;
  const __half* k_cache = static_cast<const __half*>(a.cache.k);
  const __half* v_cache = static_cast<const __half*>(a.cache.v);
  const int64_t row_elems = int64_t{a.cache.kv_heads} * D;
  const int block_size = a.cache.block_size;
  const auto load_tile = [&](int tile, TileRows which) {
    for (int c = lane; c < kKeys * kChunks; c += 32) {
      const int j = c / kChunks, chunk = c % kChunks;
      const int pos = tile + j;
      if ((which == TileRows::Older && pos == last_key) || (which == TileRows::Newest && pos != last_key)) continue;
      int64_t at = 0;
      if (pos <= last_key) {
        const int64_t slot = int64_t{table[pos / block_size]} * block_size + pos % block_size;
        at = slot * row_elems + int64_t{kv_head} * D + chunk * 8;
      }
      const int bytes = pos <= last_key ? 16 : 0;  // zeros past the last key: P is 0 there, V must not be NaN
      cp_async_16(sk + j * kStride + chunk * 8, k_cache + at, bytes);
      cp_async_16(sv + j * kStride + chunk * 8, v_cache + at, bytes);
    }
  };
  if (first_tile <= last_key) {
    if (a.early_kv) {
      load_tile(first_tile, TileRows::Older);
      wait_for_previous_kernel();
      if (last_key < first_tile + kKeys) load_tile(first_tile, TileRows::Newest);
    } else {
      load_tile(first_tile, TileRows::All);
    }
  } else if (a.early_kv) {
    wait_for_previous_kernel();
  }
  // The next product's weights, behind this block's own reads in DRAM's queue.
  issue_weight_prefetch(a.prefetch);

  const float q_scale = a.scale * 1.4426950408889634f;  // log2 e: exp2 in the tile
  // The group's query rows, zeros past it.
  for (int c = tid; c < kRows * (D / 2); c += kWarps * 32) {
    const int row = c / (D / 2), pair = c % (D / 2);
    float2 v = make_float2(0.f, 0.f);
    if (row < group) {
      const float* src = a.q + token * a.q_token_stride + int64_t{kv_head * group + row} * a.q_head_stride;
      v = *reinterpret_cast<const float2*>(src + 2 * pair);
    }
    *reinterpret_cast<__half2*>(sq + row * kStride + 2 * pair) = __floats2half2_rn(v.x * q_scale, v.y * q_scale);
  }
  __syncthreads();
  uint32_t qf[D / 16][4];  // every warp holds all rows
#pragma unroll
  for (int ks = 0; ks < D / 16; ++ks) ldmatrix_x4(qf[ks], sq + (lane % 16) * kStride + ks * 16 + (lane / 16) * 8);

  FlashRows<D> rows;
  for (int tile = first_tile; tile <= last_key; tile += tile_step) {
    if (tile != first_tile) {
      __syncwarp();  // every lane is done with the previous tile
      load_tile(tile, TileRows::All);
    }
    cp_async_wait_all();
    __syncwarp();
    flash_attend_tile<D, kKeys, kStride>(qf, sk, sv, tile, last_key, last_key, last_key, lane, rows);
  }

  // Merge the warps: each writes its unnormalised rows and their (max, sum) over its own
  // tile buffers, then the block adds them up weighted by exp2(max_w - max).
  __syncthreads();
  float* merged = reinterpret_cast<float*>(sq + kRows * kStride);  // [kWarps][kRows][D]
  float* stats = merged + kWarps * kRows * D;                      // [kWarps][kRows][2]
  const int r0 = lane / 4, dim0 = (lane % 4) * 2;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float* dst = merged + (warp * kRows + r0 + 8 * half) * D + dim0;
#pragma unroll
    for (int db = 0; db < D / 8; ++db)
      *reinterpret_cast<float2*>(dst + db * 8) = make_float2(rows.o[db][2 * half], rows.o[db][2 * half + 1]);
  }
  if (lane % 4 == 0) {
    stats[(warp * kRows + r0) * 2] = rows.m_lo;
    stats[(warp * kRows + r0) * 2 + 1] = rows.l_lo;
    stats[(warp * kRows + r0 + 8) * 2] = rows.m_hi;
    stats[(warp * kRows + r0 + 8) * 2 + 1] = rows.l_hi;
  }
  __syncthreads();
  const int visible = group < kRows ? group : kRows;
  // Split partials: [splits, tokens, heads] rows of D unnormalised values and (max, sum),
  // in log2 units, as the SIMT kernel's layout (its merge there is in natural units).
  const int64_t split_rows = int64_t{a.num_tokens} * a.num_heads;
  for (int c = tid; c < visible * D; c += kWarps * 32) {
    const int row = c / D, d = c % D;
    float max = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) max = fmaxf(max, stats[(w * kRows + row) * 2]);
    float sum = 0.f, value = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float weight = exp2f(stats[(w * kRows + row) * 2] - max);  // 0 for a warp without tiles
      sum += stats[(w * kRows + row) * 2 + 1] * weight;
      value += merged[(w * kRows + row) * D + d] * weight;
    }
    const int64_t out_row = token * a.num_heads + kv_head * group + row;
    if (active == 1) {
      a.out[token * a.out_stride + int64_t{kv_head * group + row} * D + d] = value / sum;
      continue;
    }
    const int64_t part = split * split_rows + out_row;
    a.partial_acc[part * D + d] = value;
    if (d == 0) a.partial_stats[part * 2] = max, a.partial_stats[part * 2 + 1] = sum;
  }
  if (active == 1) return;
  // The last of the active splits of this item and KV head to finish merges them all, as
  // the SIMT kernel does (fence, ticket, reset by the last).
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (tid == 0) {
    int* counter = a.split_counters + int64_t{blockIdx.x} * gridDim.y + blockIdx.y;
    last = atomicAdd(counter, 1) == active - 1;
    if (last) atomicExch(counter, 0);
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  for (int c = tid; c < visible * D; c += kWarps * 32) {
    const int row = c / D, d = c % D;
    const int64_t out_row = token * a.num_heads + kv_head * group + row;
    float max = -INFINITY;
    for (int sp = 0; sp < active; ++sp) max = fmaxf(max, __ldcg(a.partial_stats + (sp * split_rows + out_row) * 2));
    float sum = 0.f, value = 0.f;
    for (int sp = 0; sp < active; ++sp) {
      const int64_t part = sp * split_rows + out_row;
      const float weight = exp2f(__ldcg(a.partial_stats + part * 2) - max);
      sum += __ldcg(a.partial_stats + part * 2 + 1) * weight;
      value += __ldcg(a.partial_acc + part * D + d) * weight;
    }
    a.out[token * a.out_stride + int64_t{kv_head * group + row} * D + d] = value / sum;
  }
}

template <int D>
void launch_for(const AttentionArgs& a, cudaStream_t stream) {
  static_assert(kWarps * kRows * (D + 2) * sizeof(float) <= kWarps * 2 * kKeys * (D + kPad) * sizeof(__half),
                "the merge reuses the warps' tile buffers");
  static bool raised = false;  // the opt-in above 48 KB is per kernel, once is enough
  if (!raised) {
    cuda_check(cudaFuncSetAttribute(decode_attention_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(shared_bytes<D>())),
               "cudaFuncSetAttribute(decode_attention_kernel)");
    raised = true;
  }
  const dim3 grid(static_cast<unsigned>(a.num_items), static_cast<unsigned>(a.cache.kv_heads),
                  static_cast<unsigned>(a.splits));
  launch_kernel(decode_attention_kernel<D>, grid, kWarps * 32, shared_bytes<D>(), stream, a);
  check_launch("decode_attention_kernel");
}

}  // namespace

bool decode_attention_supports(const KVLayer& cache, int num_heads) {
  return cache.f16 && (cache.head_dim == 64 || cache.head_dim == 128) && cache.kv_heads > 0 &&
         num_heads % cache.kv_heads == 0 && num_heads / cache.kv_heads <= kRows;
}

void launch_decode_attention(const AttentionArgs& a, cudaStream_t stream) {
  if (a.num_items == 0) return;
  if (!decode_attention_supports(a.cache, a.num_heads) || a.tokens_per_item != 1)
    throw Error("decode attention: needs an f16 cache, head_dim 64 or 128, GQA groups of at most 16 and one token "
                "an item");
  if (a.splits > 1 && (!a.partial_acc || !a.partial_stats || !a.split_counters))
    throw Error("decode attention: key splits need partial buffers and counters");
  if (a.q_token_stride % 2 != 0 || a.q_head_stride % 2 != 0)
    throw Error("decode attention: q rows must be 8-byte aligned");
  if (a.cache.head_dim == 64) launch_for<64>(a, stream);
  else launch_for<128>(a, stream);
}

}  // namespace strata::cuda
