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

#include <climits>
#include <cmath>
#include <type_traits>

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

// Four consecutive cache elements as loaded (an 8-byte f16 or 16-byte f32 vector), and as f32.
template <bool F16>
using CacheVec = std::conditional_t<F16, uint2, float4>;

template <bool F16>
__device__ __forceinline__ CacheVec<F16> load_cache4(const void* base, int64_t i) {
  if constexpr (F16) return *reinterpret_cast<const uint2*>(static_cast<const __half*>(base) + i);
  else return *reinterpret_cast<const float4*>(static_cast<const float*>(base) + i);
}

template <bool F16>
__device__ __forceinline__ float4 to_float4(const CacheVec<F16>& raw) {
  if constexpr (F16) {
    const float2 lo = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
    const float2 hi = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
    return make_float4(lo.x, lo.y, hi.x, hi.y);
  } else {
    return raw;
  }
}

__device__ __forceinline__ float dot4(const float4& a, const float4& b) {
  return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
}

// Shared-memory row strides (floats). K rows get 4 floats of padding so that the eight
// lanes of each quarter-warp phase read their keys' 16-byte vectors from distinct banks.
__host__ __device__ inline int k_stride(int dim) { return dim + 4; }

// Where a block's key/value rows come from: its sequence's block table, one KV head.
struct TileSource {
  const KVLayer& cache;
  const int32_t* table;
  int64_t row_elems;  // elements of one cache slot (all KV heads)
  int kv_head;
  int vecs;     // 4-element vectors of a head row
  int key_end;  // rows at or past it are zeros
};

// A key/value tile in flight: a warp per row (one block-table lookup per row), lane l
// holding vectors l, l + 32, ... of it. Up to kRows rows a warp wait in registers, loaded
// together, so that a tile costs one trip to memory instead of one per row, and the next
// tile's loads overlap this tile's arithmetic; rows past that (blocks of fewer than
// kTile / kRows warps) are loaded when stored.
template <int MaxD, bool F16>
struct TileRows {
  using Vec = CacheVec<F16>;
  static constexpr int kGroups = (MaxD / 4 + 31) / 32;
  static constexpr int kRows = 8 / kGroups / (F16 ? 1 : 2);  // 32 registers of each of K and V
  Vec k[kRows][kGroups], v[kRows][kGroups];

  __device__ __forceinline__ static int64_t row_base(const TileSource& s, int pos) {
    const int block_size = s.cache.block_size;
    const int64_t slot = int64_t{s.table[pos / block_size]} * block_size + pos % block_size;
    return slot * s.row_elems + int64_t{s.kv_head} * s.cache.head_dim;
  }

  __device__ __forceinline__ static void load_row(const TileSource& s, int pos, int lane, Vec (&kr)[kGroups],
                                                  Vec (&vr)[kGroups]) {
    const bool inside = pos < s.key_end;
    const int64_t base = inside ? row_base(s, pos) : 0;
#pragma unroll
    for (int g = 0; g < kGroups; ++g) {
      const int vec = lane + 32 * g;
      const bool ok = inside && vec < s.vecs;
      kr[g] = ok ? load_cache4<F16>(s.cache.k, base + 4 * vec) : Vec{};
      vr[g] = ok ? load_cache4<F16>(s.cache.v, base + 4 * vec) : Vec{};
    }
  }

  __device__ __forceinline__ static void store_row(const TileSource& s, int j, int lane, const Vec (&kr)[kGroups],
                                                   const Vec (&vr)[kGroups], float* k_tile, float* v_tile) {
    const int dim = s.cache.head_dim;
#pragma unroll
    for (int g = 0; g < kGroups; ++g) {
      const int vec = lane + 32 * g;
      if (vec >= s.vecs) continue;
      *reinterpret_cast<float4*>(k_tile + j * k_stride(dim) + 4 * vec) = to_float4<F16>(kr[g]);
      *reinterpret_cast<float4*>(v_tile + j * dim + 4 * vec) = to_float4<F16>(vr[g]);
    }
  }

  // The rows of positions in [from, to) (all by default: the two phases of early_kv).
  __device__ __forceinline__ void load(const TileSource& s, int tile, int warp, int warps, int lane, int from = 0,
                                       int to = INT_MAX) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int j = warp + warps * r;
      if (j < kTile && tile + j >= from && tile + j < to) load_row(s, tile + j, lane, k[r], v[r]);
    }
  }

  __device__ __forceinline__ void store(const TileSource& s, int tile, float* k_tile, float* v_tile, int warp,
                                        int warps, int lane) const {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int j = warp + warps * r;
      if (j < kTile) store_row(s, j, lane, k[r], v[r], k_tile, v_tile);
    }
    for (int j = warp + warps * kRows; j < kTile; j += warps) {
      Vec kr[kGroups], vr[kGroups];
      load_row(s, tile + j, lane, kr, vr);
      store_row(s, j, lane, kr, vr, k_tile, v_tile);
    }
  }
};

// Blocks hold at most 16 warps (launch_attention): 512 threads, which leaves the tile rows
// their registers.
constexpr int kMaxAttentionThreads = 512;

template <int MaxD, bool F16>
__global__ void __launch_bounds__(kMaxAttentionThreads) attention_kernel(AttentionArgs a, Layout layout) {
  // Without early_kv the kernel waits before its first read; with it, after the reads
  // AttentionArgs::early_kv allows (the items, positions, block table and older rows).
  if (!a.early_kv) wait_for_previous_kernel();
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

  // Rows from the token's own position on were written by the previous kernel (decode:
  // only its own; otherwise no row is read before the wait).
  const int older = a.early_kv ? position : 0;
  const int32_t* table = a.block_tables + int64_t{item.seq} * a.max_blocks;
  TileRows<MaxD, F16> rows;
  const TileSource src{a.cache, table, int64_t{a.cache.kv_heads} * dim, kv_head, dim / 4, key_end};
  if (a.early_kv) {
    if (key_begin < key_end) rows.load(src, key_begin, warp, warps, lane, 0, older);
    wait_for_previous_kernel();
  }

  float* q = q_rows + warp * dim;
  if (active)
    for (int d = lane; d < dim; d += 32) q[d] = a.q[token * a.q_token_stride + head * a.q_head_stride + d] * a.scale;

  // Each lane owns 4 consecutive dimensions per 128 (so MaxD / 128 groups, at least one).
  constexpr int kGroups = MaxD > 128 ? MaxD / 128 : 1;
  float4 acc[kGroups];
#pragma unroll
  for (int g = 0; g < kGroups; ++g) acc[g] = make_float4(0.f, 0.f, 0.f, 0.f);
  float running_max = -INFINITY, running_sum = 0.f;

  const int vecs = dim / 4;
  if (key_begin < key_end) rows.load(src, key_begin, warp, warps, lane, older);
  for (int tile = key_begin; tile < key_end; tile += kTile) {
    __syncthreads();  // the previous tile is no longer read
    rows.store(src, tile, k_tile, v_tile, warp, warps, lane);
    __syncthreads();
    // The next tile's loads go out now, to arrive while this one is scored.
    if (tile + kTile < key_end) rows.load(src, tile + kTile, warp, warps, lane);
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

template <int MaxD, bool F16>
void launch_for(const AttentionArgs& a, const Layout& layout, size_t smem, cudaStream_t stream) {
  static bool raised = false;  // the opt-in above 48 KB is per kernel, once is enough
  if (!raised && smem > 48 * 1024) {
    cuda_check(cudaFuncSetAttribute(attention_kernel<MaxD, F16>, cudaFuncAttributeMaxDynamicSharedMemorySize, 160 * 1024),
               "cudaFuncSetAttribute(attention_kernel)");
    raised = true;
  }
  const dim3 grid(static_cast<unsigned>(a.num_items), static_cast<unsigned>(a.num_heads / layout.heads_per_block),
                  static_cast<unsigned>(a.splits));
  launch_kernel(attention_kernel<MaxD, F16>, grid, layout.warps * 32, smem, stream, a, layout);
  check_launch("attention_kernel");
}

template <bool F16>
void launch_for_dim(const AttentionArgs& a, const Layout& layout, size_t smem, cudaStream_t stream) {
  const int dim = a.cache.head_dim;
  if (dim <= 64) launch_for<64, F16>(a, layout, smem, stream);
  else if (dim <= 128) launch_for<128, F16>(a, layout, smem, stream);
  else launch_for<256, F16>(a, layout, smem, stream);
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
  if (layout.warps * 32 > kMaxAttentionThreads)
    throw Error("attention: more than " + std::to_string(kMaxAttentionThreads / 32) + " warps per block");
  const size_t smem =
      sizeof(float) * (size_t{kTile} * k_stride(dim) + size_t{kTile} * dim + size_t(layout.warps) * dim);
  if (a.cache.f16) launch_for_dim<true>(a, layout, smem, stream);
  else launch_for_dim<false>(a, layout, smem, stream);
}

}  // namespace strata::cuda
