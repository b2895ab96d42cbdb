// The step program's kernel (step_program.h): one block an SM runs the recorded
// operations in order, a grid-wide barrier between two. Values another block wrote in this
// launch (activations, the token's own key and value, attention partials) are read through
// L2 (__ldcg): L1 is not coherent between SMs; the residual stream is only added to, by
// reductions. Weights never change and stream past the caches as in the GEMV kernels.
#include <cuda_fp16.h>

#include "core/error.h"
#include "kernels/cuda/blocks_in_flight.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/half_unpack.cuh"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/kv_cache_device.cuh"
#include "kernels/cuda/rope_device.cuh"
#include "kernels/cuda/step_program.h"

namespace strata::cuda {

namespace {

constexpr int kWarps = kProgramThreads / 32;
// 16-byte chunks of each of a warp's two rows that a lane loads at a time (2 measured
// alike: 8B BF16 166.14 against 167.84 tok/s, 1B 691.85 against 690.33, H100, session 16).
constexpr int kUnroll = 4;
// Attention: a warp loads this many keys' rows at once (4 spilled registers); a block
// takes one such batch a warp, so the keys are split over blocks from 33 on (more splits,
// a shorter chain each: at 128 keys one block a KV head measured far slower).
constexpr int kKeysPerWarp = 2;
constexpr int kKeysPerSplit = kWarps * kKeysPerWarp;
constexpr int kMaxGroup = 4;        // query heads a KV head (8 spilled registers)
constexpr int kMaxDimsPerLane = 4;  // head_dim <= 128
constexpr size_t kAttentionSharedBytes = sizeof(float) * kWarps * kMaxGroup * (32 * kMaxDimsPerLane + 2);
constexpr size_t kMaxSharedBytes = sizeof(float) * kMaxProgramCols;
static_assert(kAttentionSharedBytes <= kMaxSharedBytes, "attention's rows fit a product's");

// Every block arrives, then waits until `target` arrivals (this barrier's index times the
// grid) have been counted. The arrival is a release reduction (it publishes the block's
// writes, ordered before it by the CTA barrier, and returns nothing to wait for); the
// spin an acquire load, and the CTA barrier after it orders the block's later reads.
__device__ __forceinline__ void grid_barrier(unsigned* counter, unsigned target) {
  __syncthreads();
  if (threadIdx.x == 0) {
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(counter) : "memory");
    unsigned seen = 0;
    do {
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(counter) : "memory");
    } while (seen < target);
  }
  __syncthreads();
}

// After the last operation: the last block to get here zeroes the barrier's count for the
// next launch (every block has then left every barrier; the tickets zero themselves).
__device__ __forceinline__ void reset_counters(unsigned* counters) {
  __syncthreads();
  if (threadIdx.x != 0) return;
  unsigned* done = counters + 1 + kMaxProgramTickets;
  if (atomicAdd(done, 1u) == gridDim.x - 1) {
    counters[0] = 0;
    *done = 0;
  }
}

// The wait before operation i: for the dependent launch before the first, for i blocks'
// arrivals a block (the grid barrier) before the others.
struct Barrier {
  unsigned* counter;
  unsigned target;

  __device__ __forceinline__ void wait() const {
    if (target == 0) wait_for_previous_kernel();
    else grid_barrier(counter, target);
  }
};

// ---- products ----

// One warp's unit of a product: two rows dotted with x (consecutive rows n0, n0 + 1 of one
// target, or gate row n0 and up row n0 for the SwiGLU).
struct RowPair {
  int target;
  int64_t n0;
  const uint8_t* rows[2];
};

__device__ __forceinline__ const uint8_t* row_of(const WeightRef& w, int64_t row) {
  return static_cast<const uint8_t*>(w.data) + row * w.cols * 2;
}

__device__ __forceinline__ int64_t row_pairs(const ProgramGemv& op) {
  if (op.swiglu) return op.w[0].rows;
  int64_t n = 0;
#pragma unroll
  for (int t = 0; t < 3; ++t)
    if (t < op.count) n += (op.w[t].rows + 1) / 2;
  return n;
}

__device__ __forceinline__ RowPair row_pair(const ProgramGemv& op, int64_t pair) {
  if (op.swiglu) return {0, pair, {row_of(op.w[0], pair), row_of(op.up, pair)}};
  int64_t first = 0;
#pragma unroll
  for (int t = 0; t < 3; ++t) {
    const int64_t pairs = (op.w[t].rows + 1) / 2;
    if (t == op.count - 1 || pair < first + pairs) {
      const int64_t n0 = 2 * (pair - first);
      const int64_t n1 = n0 + 1 < op.w[t].rows ? n0 + 1 : n0;  // past the end: re-read, never stored
      return {t, n0, {row_of(op.w[t], n0), row_of(op.w[t], n1)}};
    }
    first += pairs;
  }
  return {};
}

// A lane's chunks c, c + 32, ... (kUnroll of them) of both rows.
struct Chunks {
  uint4 raw[kUnroll][2];

  __device__ __forceinline__ void load(const RowPair& p, int64_t c, int64_t chunks) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int r = 0; r < 2; ++r)
        if (c + 32 * u < chunks) raw[u][r] = load_streaming(p.rows[r] + (c + 32 * u) * 16);
  }
};

__device__ __forceinline__ float dot8(const float4& a, const float4& b, const float (&w)[8]) {
  return a.x * w[0] + a.y * w[1] + a.z * w[2] + a.w * w[3] + b.x * w[4] + b.y * w[5] + b.z * w[6] + b.w * w[7];
}

// The rotation of a q or k row pair: after the products, in a call of its own, so that
// its double-precision registers do not compete with the weights in flight.
__device__ __noinline__ RopeAngle pair_angle(const ProgramGemv& op, int64_t n0) {
  return rope_angle(op.rope_args.positions[0], op.rope_args.inv_freq[(n0 % op.rope_args.cache.head_dim) / 2]);
}

// Lane 0 stores the pair's two sums as the GEMV kernels' epilogues do.
__device__ __forceinline__ void store_pair(const ProgramGemv& op, const RowPair& p, float s0, float s1) {
  if (op.swiglu) {
    op.y[0][p.n0] = silu_times(s0, s1);
    return;
  }
  float* y = op.y[p.target] + p.n0;
  if (op.rope) {
    if (p.target < 2) rotate_pair(s0, s1, pair_angle(op, p.n0));
    y[0] = s0;
    y[1] = s1;
    const GemvRope& rope = op.rope_args;
    const int32_t slot = rope.slots[0];
    if (p.target == 0 || !cache_slot_valid(rope.cache, slot)) return;
    const int64_t index = int64_t{slot} * rope.cache.kv_heads * rope.cache.head_dim + p.n0;
    void* base = p.target == 1 ? rope.cache.k : rope.cache.v;
    store_cache_value(rope.cache, base, index, s0);
    store_cache_value(rope.cache, base, index + 1, s1);
    return;
  }
  const bool second = p.n0 + 1 < op.w[p.target].rows;
  if (op.accumulate) {
    // The residual stream: one addition to each element, as a reduction the warp does not
    // wait for (no load of y in the chain).
    atomicAdd(y, s0);
    if (second) atomicAdd(y + 1, s1);
    return;
  }
  y[0] = s0;
  if (second) y[1] = s1;
}

// The block's copy of the product's input in shared memory (every warp reads all of it),
// times the folded norm's weight; returns 1 / rms of x (1 without a norm).
__device__ float stage_input(const ProgramGemv& op, float* xs) {
  __shared__ float partial[kWarps];
  const int64_t vectors = op.w[0].cols / 4;
  const float4* x4 = reinterpret_cast<const float4*>(op.x);
  const float4* g4 = reinterpret_cast<const float4*>(op.norm_weight);
  float4* out = reinterpret_cast<float4*>(xs);
  float squares = 0.f;
  for (int64_t i = threadIdx.x; i < vectors; i += kProgramThreads) {
    float4 v = __ldcg(x4 + i);
    if (g4) {
      squares += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
      v = times(v, __ldg(g4 + i));
    }
    out[i] = v;
  }
  if (g4) {
    squares = warp_sum(squares);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = squares;
  }
  __syncthreads();
  if (!g4) return 1.f;
  float total = 0.f;
  for (int w = 0; w < kWarps; ++w) total += partial[w];
  return rsqrtf(total / static_cast<float>(op.w[0].cols) + op.eps);
}

// The warp's row pairs of one product, pair after pair, kUnroll chunks of both rows a lane
// at a time (each step's loads, then its arithmetic; the warps of the SM overlap). The
// first step's loads go out before the barrier.
__device__ __forceinline__ void run_gemv(const ProgramGemv& op, const Barrier& barrier, float* xs) {
  const int warp = blockIdx.x * kWarps + threadIdx.x / 32, warps = gridDim.x * kWarps, lane = threadIdx.x % 32;
  const int pairs = static_cast<int>(row_pairs(op)), chunks = static_cast<int>(op.w[0].cols / 8);
  Chunks cur;
  // The weights were written before the launch: the first chunks go out before the barrier.
  bool loaded = warp < pairs;
  if (loaded) cur.load(row_pair(op, warp), lane, chunks);
  barrier.wait();
  const float inv_rms = stage_input(op, xs);
  const bool bf16 = op.w[0].dtype == DType::BF16;
  const float4* x4 = reinterpret_cast<const float4*>(xs);
  for (int pair = warp; pair < pairs; pair += warps) {
    const RowPair p = row_pair(op, pair);
    float sum[2] = {0.f, 0.f};
    for (int c0 = lane; c0 < chunks; c0 += 32 * kUnroll) {
      if (loaded) loaded = false;
      else cur.load(p, c0, chunks);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int c = c0 + 32 * u;
        if (c >= chunks) break;
        const float4 a = x4[2 * c], b = x4[2 * c + 1];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          float w[8];
          if (bf16) unpack_bf16x8(cur.raw[u][r], w);
          else unpack_half8(cur.raw[u][r], w);
          sum[r] += dot8(a, b, w);
        }
      }
    }
    const float s0 = warp_sum(sum[0]) * inv_rms, s1 = warp_sum(sum[1]) * inv_rms;
    if (lane == 0) store_pair(op, p, s0, s1);
  }
}

// ---- attention ----

__device__ __forceinline__ void load_head_row(const KVLayer& cache, const void* base, int64_t index, int dims,
                                              float (&out)[kMaxDimsPerLane]) {
#pragma unroll
  for (int i = 0; i < kMaxDimsPerLane; ++i) {
    if (i >= dims) break;
    out[i] = cache.f16 ? __half2float(__ldcg(static_cast<const __half*>(base) + index + i))
                       : __ldcg(static_cast<const float*>(base) + index + i);
  }
}

// A warp's running softmax of one query head: the largest score so far and the sum of
// exp(score - max) (the weighted values stay in the caller's registers).
struct Softmax {
  float max = -INFINITY, sum = 0.f;
};

// One output element's softmax over some keys: the largest score, the sum of
// exp(score - max), and the values weighted by those exponentials.
struct Partial {
  float max, sum, value;
  __device__ __forceinline__ float result() const { return sum > 0.f ? value / sum : 0.f; }
};

// The merge of n partials of one element (the warps' of a block, or the splits'); `part(k)`
// gives the k-th, whose max is -INFINITY where it saw no keys.
template <typename Part>
__device__ __forceinline__ Partial merge_partials(int n, Part part) {
  Partial out{-INFINITY, 0.f, 0.f};
  for (int k = 0; k < n; ++k) out.max = fmaxf(out.max, part(k).max);
  for (int k = 0; k < n; ++k) {
    const Partial p = part(k);
    if (p.max == -INFINITY) continue;
    const float f = __expf(p.max - out.max);
    out.sum += p.sum * f;
    out.value += p.value * f;
  }
  return out;
}

// The query heads of one KV head over keys [k0, k1): warp w takes kKeysPerWarp consecutive
// keys of every kKeysPerSplit from k0 + w * kKeysPerWarp, then the block merges the warps'
// results through shared memory into `out` (splits == 1) or into this split's partial rows.
__device__ void attend_keys(const ProgramAttention& a, int kvh, int split, int splits, int k0, int k1, float* shared) {
  const KVLayer& cache = a.cache;
  const int dim = cache.head_dim, dims = dim / 32, group = a.num_heads / cache.kv_heads;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float q[kMaxGroup][kMaxDimsPerLane], acc[kMaxGroup][kMaxDimsPerLane];
  Softmax s[kMaxGroup];
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) {
    if (h >= group) break;
    const float* qh = a.q + (kvh * group + h) * a.q_head_stride + lane * dims;
#pragma unroll
    for (int i = 0; i < kMaxDimsPerLane; ++i) {
      if (i >= dims) break;
      q[h][i] = __ldcg(qh + i);
      acc[h][i] = 0.f;
    }
  }
  const int bs = cache.block_size;
  for (int j0 = k0 + warp * kKeysPerWarp; j0 < k1; j0 += kKeysPerSplit) {
    // kKeysPerWarp consecutive keys: all their rows requested before any is used.
    float k[kKeysPerWarp][kMaxDimsPerLane], v[kKeysPerWarp][kMaxDimsPerLane];
#pragma unroll
    for (int b = 0; b < kKeysPerWarp; ++b) {
      const int j = j0 + b;
      if (j >= k1) break;
      const int64_t slot = int64_t{a.block_table[j / bs]} * bs + j % bs;
      const int64_t index = (slot * cache.kv_heads + kvh) * dim + lane * dims;
      load_head_row(cache, cache.k, index, dims, k[b]);
      load_head_row(cache, cache.v, index, dims, v[b]);
    }
#pragma unroll
    for (int b = 0; b < kKeysPerWarp; ++b) {
      if (j0 + b >= k1) break;
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h) {
        if (h >= group) break;
        float dot = 0.f;
#pragma unroll
        for (int i = 0; i < kMaxDimsPerLane; ++i)
          if (i < dims) dot += q[h][i] * k[b][i];
        const float score = warp_sum(dot) * a.scale;
        const float max = fmaxf(s[h].max, score);
        const float keep = __expf(s[h].max - max), p = __expf(score - max);
        s[h].sum = s[h].sum * keep + p;
        s[h].max = max;
#pragma unroll
        for (int i = 0; i < kMaxDimsPerLane; ++i)
          if (i < dims) acc[h][i] = acc[h][i] * keep + p * v[b][i];
      }
    }
  }
  // Shared: [warps, group, dim] values, then [warps, group] (max, sum).
  float* values = shared;
  float* stats = shared + kWarps * group * dim;
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) {
    if (h >= group) break;
#pragma unroll
    for (int i = 0; i < kMaxDimsPerLane; ++i)
      if (i < dims) values[(warp * group + h) * dim + lane * dims + i] = acc[h][i];
    if (lane == 0) {
      stats[(warp * group + h) * 2] = s[h].max;
      stats[(warp * group + h) * 2 + 1] = s[h].sum;
    }
  }
  __syncthreads();
  for (int t = threadIdx.x; t < group * dim; t += kProgramThreads) {
    const int h = t / dim, d = t % dim, head = kvh * group + h;
    const Partial merged = merge_partials(kWarps, [&](int w) {
      const int i = w * group + h;
      return Partial{stats[i * 2], stats[i * 2 + 1], values[i * dim + d]};
    });
    if (splits == 1) {
      a.out[head * dim + d] = merged.result();
    } else {
      float* row = a.partials + (int64_t{split} * a.num_heads + head) * (dim + 2);
      row[d] = merged.value;
      if (d == 0) row[dim] = merged.max, row[dim + 1] = merged.sum;
    }
  }
}

// The last split of a KV head to finish merges all splits' partial rows into `out`.
__device__ void merge_splits(const ProgramAttention& a, int kvh, int splits) {
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(a.tickets + kvh, 1u) == static_cast<unsigned>(splits - 1);
  __syncthreads();
  if (!last) return;
  __threadfence();
  const int dim = a.cache.head_dim, group = a.num_heads / a.cache.kv_heads;
  for (int t = threadIdx.x; t < group * dim; t += kProgramThreads) {
    const int head = kvh * group + t / dim, d = t % dim;
    const Partial merged = merge_partials(splits, [&](int s) {
      const float* row = a.partials + (int64_t{s} * a.num_heads + head) * (dim + 2);
      return Partial{__ldcg(row + dim), __ldcg(row + dim + 1), __ldcg(row + d)};
    });
    a.out[head * dim + d] = merged.result();
  }
  if (threadIdx.x == 0) a.tickets[kvh] = 0;  // for the next layer's attention
}

__device__ __forceinline__ void run_attention(const ProgramAttention& a, const Barrier& barrier, float* shared) {
  barrier.wait();
  const int keys = *a.position + 1, kv_heads = a.cache.kv_heads;
  int splits = (keys + kKeysPerSplit - 1) / kKeysPerSplit;
  splits = splits < 1 ? 1 : splits > a.max_splits ? a.max_splits : splits;
  const int per_split = (keys + splits - 1) / splits;
  for (int unit = blockIdx.x; unit < kv_heads * splits; unit += gridDim.x) {
    const int kvh = unit / splits, split = unit % splits;
    const int k0 = split * per_split, k1 = min(keys, k0 + per_split);
    attend_keys(a, kvh, split, splits, k0, k1, shared);
    if (splits > 1) merge_splits(a, kvh, splits);
    __syncthreads();  // the shared rows are the next unit's
  }
}

__global__ void __launch_bounds__(kProgramThreads, 1) step_program_kernel(const __grid_constant__ StepProgram p) {
  extern __shared__ float shared[];
  for (int i = 0; i < p.count; ++i) {
    const ProgramOp& op = p.ops[i];
    // Each operation meets the barrier after its early reads (weights, never written).
    const Barrier barrier{p.counters, static_cast<unsigned>(i) * gridDim.x};
    if (op.kind == ProgramOpKind::Gemv) run_gemv(op.gemv, barrier, shared);
    else run_attention(op.attention, barrier, shared);
  }
  reset_counters(p.counters);
}

// Whether the kernel may take kMaxSharedBytes of shared memory (raised once; a GPU with
// less leaves the program off rather than failing).
bool shared_memory_raised() {
  static const bool raised = [] {
    const cudaError_t status = cudaFuncSetAttribute(step_program_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    static_cast<int>(kMaxSharedBytes));
    if (status != cudaSuccess) cudaGetLastError();  // not sticky: clear it
    return status == cudaSuccess;
  }();
  return raised;
}

}  // namespace

static_assert(sizeof(StepProgram) <= 32000, "a step program is passed as one kernel parameter (32,764 bytes at most)");

bool program_gemv_supports(const WeightRef& w) {
  return (w.dtype == DType::F16 || w.dtype == DType::BF16) && w.cols % 8 == 0 && w.cols > 0 &&
         w.cols <= kMaxProgramCols && w.rows > 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0;
}

ProgramGemv make_program_gemv(const GemvTarget* targets, int count, const float* x, const GemvNorm& norm,
                              const GemvRope* rope, const WeightRef* up) {
  ProgramGemv g;
  g.x = x;
  g.norm_weight = norm.weight;
  g.eps = norm.eps;
  g.count = count;
  for (int i = 0; i < count; ++i) g.y[i] = targets[i].y, g.w[i] = targets[i].w;
  g.accumulate = targets[0].accumulate;
  if (up) g.swiglu = true, g.up = *up;
  if (rope) g.rope = true, g.rope_args = *rope;
  return g;
}

size_t program_gemv_shared_bytes(const WeightRef& w) { return sizeof(float) * static_cast<size_t>(w.cols); }

bool program_attention_supports(const KVLayer& cache, int num_heads) {
  return cache.kv_heads > 0 && cache.head_dim % 32 == 0 && cache.head_dim <= 32 * kMaxDimsPerLane &&
         num_heads % cache.kv_heads == 0 && num_heads / cache.kv_heads <= kMaxGroup &&
         cache.kv_heads <= kMaxProgramTickets && cache.block_size > 0;
}

size_t program_shared_bytes(const KVLayer& cache, int num_heads) {
  const int group = num_heads / cache.kv_heads;
  return sizeof(float) * static_cast<size_t>(kWarps * group * (cache.head_dim + 2));
}

int program_blocks(int multiprocessors) {
  if (!shared_memory_raised()) return 0;
  int per_sm = 0;
  cuda_check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, step_program_kernel, kProgramThreads,
                                                           kMaxSharedBytes),
             "step program occupancy");
  return per_sm >= 1 ? multiprocessors : 0;
}

void launch_step_program(const StepProgram& program, int blocks, size_t shared_bytes, cudaStream_t stream) {
  if (program.count == 0) return;
  if (blocks <= 0 || shared_bytes > kMaxSharedBytes || !program.counters) throw Error("step program: bad launch");
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeCooperative;
  attribute.val.cooperative = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(blocks));
  config.blockDim = dim3(kProgramThreads);
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = 1;
  const cudaError_t status = cudaLaunchKernelEx(&config, step_program_kernel, program);
  if (status != cudaSuccess) report_launch_failure(status, reinterpret_cast<const void*>(step_program_kernel), config);
}

}  // namespace strata::cuda
