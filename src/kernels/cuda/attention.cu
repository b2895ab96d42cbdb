// Paged attention for prefill and decode alike. A thread block takes one work item (up to
// tokens_per_item consecutive query tokens of one sequence) and the query heads of one KV
// head: one warp per (token, head). Key/value tiles of 32 positions are gathered through
// the block table into shared memory once and used by every warp, so the heads of a GQA
// group and the tokens of a prefill chunk share each read of the cache. Each warp keeps
// an online softmax: lane j scores key j of the tile, the warp rescales its running sum
// once per tile, and each lane accumulates 4 consecutive dimensions (per 128) of the head,
// so that shared memory is read in 16-byte vectors on both sides.
// Decode of few sequences over long contexts splits the keys across blocks (grid z); the
// last block of each item and head group to finish merges the partial results.
#include <cuda_fp16.h>

#include <cmath>

#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"

namespace strata::cuda {

namespace {

constexpr int kTile = 32;  // keys per shared-memory tile (one per lane when scoring)

struct Layout {
  int heads_per_block;  // query heads of one KV head in a block
  int warps;            // heads_per_block * tokens_per_item
};

// Four consecutive cache elements (8-byte f16 or 16-byte f32 load) as f32.
__device__ __forceinline__ float4 load_cache4(const KVLayer& c, const void* base, int64_t i) {
  if (!c.f16) return *reinterpret_cast<const float4*>(static_cast<const float*>(base) + i);
  const uint2 raw = *reinterpret_cast<const uint2*>(static_cast<const __half*>(base) + i);
  const float2 lo = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
  const float2 hi = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
  return make_float4(lo.x, lo.y, hi.x, hi.y);
}

__device__ __forceinline__ float dot4(const float4& a, const float4& b) {
  return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
}

// Shared-memory row strides (floats). K rows get 4 floats of padding so that the eight
// lanes of each quarter-warp phase read their keys' 16-byte vectors from distinct banks.
__host__ __device__ inline int k_stride(int dim) { return dim + 4; }

template <int MaxD>
__global__ void attention_kernel(AttentionArgs a, Layout layout) {
  wait_for_previous_kernel();
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  const int dim = a.cache.head_dim;
  float* k_tile = smem;                              // [kTile][dim + 4]
  float* v_tile = k_tile + kTile * k_stride(dim);    // [kTile][dim]
  float* q_rows = v_tile + kTile * dim;              // [warps][dim]

  const AttentionItem item = a.items[blockIdx.x];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  const int head_in_block = warp % layout.heads_per_block, token_in_item = warp / layout.heads_per_block;
  const int head = blockIdx.y * layout.heads_per_block + head_in_block;
  const int group = a.num_heads / a.cache.kv_heads;
  const int kv_head = blockIdx.y * layout.heads_per_block / group;
  const bool active = token_in_item < item.count;
  const int64_t token = item.first_token + token_in_item;
  const int position = active ? a.positions[token] : -1;

  // This split's key range of the item: whole tiles, so splits never share a tile.
  const int item_keys = item.max_position + 1;
  const int per_split = (item_keys + a.splits * kTile - 1) / (a.splits * kTile) * kTile;
  const int key_begin = blockIdx.z * per_split;
  const int key_end = min(item_keys, key_begin + per_split);

  float* q = q_rows + warp * dim;
  if (active)
    for (int d = lane; d < dim; d += 32) q[d] = a.q[token * a.q_token_stride + head * a.q_head_stride + d] * a.scale;

  // Each lane owns 4 consecutive dimensions per 128 (so MaxD / 128 groups, at least one).
  constexpr int kGroups = MaxD > 128 ? MaxD / 128 : 1;
  float4 acc[kGroups];
#pragma unroll
  for (int g = 0; g < kGroups; ++g) acc[g] = make_float4(0.f, 0.f, 0.f, 0.f);
  float running_max = -INFINITY, running_sum = 0.f;

  const int32_t* table = a.block_tables + int64_t{item.seq} * a.max_blocks;
  const int64_t row_elems = int64_t{a.cache.kv_heads} * dim;
  const int vecs = dim / 4;
  for (int tile = key_begin; tile < key_end; tile += kTile) {
    __syncthreads();  // the previous tile is no longer read
    // A warp per key row: one block-table lookup per row, 4-element loads along it.
    for (int j = warp; j < kTile; j += warps) {
      const int pos = tile + j;
      const bool inside = pos < key_end;
      const int64_t slot = inside ? int64_t{table[pos / a.cache.block_size]} * a.cache.block_size +
                                        pos % a.cache.block_size
                                  : 0;
      const int64_t base = slot * row_elems + int64_t{kv_head} * dim;
      for (int v = lane; v < vecs; v += 32) {
        const float4 kv_k = inside ? load_cache4(a.cache, a.cache.k, base + 4 * v) : make_float4(0.f, 0.f, 0.f, 0.f);
        const float4 kv_v = inside ? load_cache4(a.cache, a.cache.v, base + 4 * v) : make_float4(0.f, 0.f, 0.f, 0.f);
        *reinterpret_cast<float4*>(k_tile + j * k_stride(dim) + 4 * v) = kv_k;
        *reinterpret_cast<float4*>(v_tile + j * dim + 4 * v) = kv_v;
      }
    }
    __syncthreads();
    if (!active || tile > position) continue;  // every key of this tile is in its future
    const int key = tile + lane;
    float score = -INFINITY;
    if (key <= position && key < key_end) {
      const float4* k_row = reinterpret_cast<const float4*>(k_tile + lane * k_stride(dim));
      const float4* q4 = reinterpret_cast<const float4*>(q);
      float s = 0.f;
      for (int v = 0; v < vecs; ++v) s += dot4(q4[v], k_row[v]);
      score = s;
    }
    const float tile_max = warp_max(score);  // finite: key `tile` is visible
    const float new_max = fmaxf(running_max, tile_max);
    const float p = __expf(score - new_max);
    const float correction = __expf(running_max - new_max);
    running_sum = running_sum * correction + warp_sum(p);
    running_max = new_max;
    const int tile_keys = min(kTile, min(key_end, position + 1) - tile);
#pragma unroll
    for (int g = 0; g < kGroups; ++g) {
      acc[g].x *= correction;
      acc[g].y *= correction;
      acc[g].z *= correction;
      acc[g].w *= correction;
    }
    for (int j = 0; j < tile_keys; ++j) {
      const float pj = __shfl_sync(0xffffffffu, p, j);
      const float* v_row = v_tile + j * dim;
#pragma unroll
      for (int g = 0; g < kGroups; ++g) {
        const int d = 4 * lane + 128 * g;
        if (d < dim) {
          const float4 v4 = *reinterpret_cast<const float4*>(v_row + d);
          acc[g].x += pj * v4.x;
          acc[g].y += pj * v4.y;
          acc[g].z += pj * v4.z;
          acc[g].w += pj * v4.w;
        }
      }
    }
  }
  const int64_t out_row = token * a.num_heads + head;
  const int64_t part = int64_t{blockIdx.z} * a.num_tokens * a.num_heads + out_row;
  if (active) {
    const float inv = a.splits == 1 ? 1.f / running_sum : 1.f;  // split partials stay unnormalised
#pragma unroll
    for (int g = 0; g < kGroups; ++g) {
      const int d = 4 * lane + 128 * g;
      if (d >= dim) continue;
      const float4 o = make_float4(acc[g].x * inv, acc[g].y * inv, acc[g].z * inv, acc[g].w * inv);
      float* dst =
          a.splits == 1 ? a.out + token * a.out_stride + int64_t{head} * dim + d : a.partial_acc + part * dim + d;
      *reinterpret_cast<float4*>(dst) = o;
    }
    if (a.splits > 1 && lane == 0) {
      a.partial_stats[part * 2] = running_max;  // -inf with running_sum 0: an empty range
      a.partial_stats[part * 2 + 1] = running_sum;
    }
  }
  if (a.splits == 1) return;
  // The last split block of this item and head group to finish merges all the splits (a
  // merge kernel of its own cost a launch a layer): every thread's writes are fenced, one
  // thread takes a ticket, and the block that draws the last one resets the counter.
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    int* counter = a.split_counters + int64_t{blockIdx.x} * gridDim.y + blockIdx.y;
    last = atomicAdd(counter, 1) == a.splits - 1;
    if (last) atomicExch(counter, 0);
  }
  __syncthreads();
  if (!last || !active) return;
  __threadfence();
  // Each warp merges its own (token, head), weighting each split by exp(max_s - max); the
  // other blocks' partials are read from L2 (__ldcg), not this SM's L1.
  const int64_t stride = int64_t{a.num_tokens} * a.num_heads;
  float max = -INFINITY;
  for (int sp = 0; sp < a.splits; ++sp) max = fmaxf(max, __ldcg(a.partial_stats + (sp * stride + out_row) * 2));
  float sum = 0.f;
  for (int sp = 0; sp < a.splits; ++sp)
    sum += __ldcg(a.partial_stats + (sp * stride + out_row) * 2 + 1) *
           __expf(__ldcg(a.partial_stats + (sp * stride + out_row) * 2) - max);
  for (int d = lane; d < dim; d += 32) {
    float v = 0.f;
    for (int sp = 0; sp < a.splits; ++sp)
      v += __ldcg(a.partial_acc + (sp * stride + out_row) * dim + d) *
           __expf(__ldcg(a.partial_stats + (sp * stride + out_row) * 2) - max);
    a.out[token * a.out_stride + int64_t{head} * dim + d] = v / sum;
  }
}

// The largest divisor of the GQA group that keeps a block at 16 warps or fewer.
int heads_per_block(int group) {
  int n = group < 16 ? group : 16;
  while (group % n != 0) --n;
  return n;
}

template <int MaxD>
void launch_for(const AttentionArgs& a, const Layout& layout, size_t smem, cudaStream_t stream) {
  static bool raised = false;  // the opt-in above 48 KB is per kernel, once is enough
  if (!raised && smem > 48 * 1024) {
    cuda_check(cudaFuncSetAttribute(attention_kernel<MaxD>, cudaFuncAttributeMaxDynamicSharedMemorySize, 160 * 1024),
               "cudaFuncSetAttribute(attention_kernel)");
    raised = true;
  }
  const dim3 grid(static_cast<unsigned>(a.num_items), static_cast<unsigned>(a.num_heads / layout.heads_per_block),
                  static_cast<unsigned>(a.splits));
  launch_kernel(attention_kernel<MaxD>, grid, layout.warps * 32, smem, stream, a, layout);
  check_launch("attention_kernel");
}

}  // namespace

int attention_heads_per_block(int group) { return heads_per_block(group); }

void launch_attention(const AttentionArgs& a, cudaStream_t stream) {
  if (a.num_items == 0) return;
  const int dim = a.cache.head_dim;
  if (dim > 256 || dim % 4 != 0)
    throw Error("attention: head_dim " + std::to_string(dim) + " is not supported on CUDA (a multiple of 4 up to 256)");
  Layout layout;
  layout.heads_per_block = heads_per_block(a.num_heads / a.cache.kv_heads);
  layout.warps = layout.heads_per_block * a.tokens_per_item;
  if (layout.warps > 32) throw Error("attention: more than 32 warps per block");
  const size_t smem =
      sizeof(float) * (size_t{kTile} * k_stride(dim) + size_t{kTile} * dim + size_t(layout.warps) * dim);
  if (dim <= 64) launch_for<64>(a, layout, smem, stream);
  else if (dim <= 128) launch_for<128>(a, layout, smem, stream);
  else launch_for<256>(a, layout, smem, stream);
}

}  // namespace strata::cuda
