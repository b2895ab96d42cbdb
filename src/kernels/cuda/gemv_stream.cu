// The streamed GEMV (gemv_stream.cuh). Why: the register-held kernel (gemv_split_kernel)
// issues one load round a warp and then computes, four blocks an SM, so a short product is
// a wave or two of load-then-wait with DRAM idle between (session 18's profile: q/k/v and wo
// of the 8B Q4_0 shape at 28-31% of DRAM peak); keeping more in flight there cost registers
// and lost (session 19). Here one block an SM streams its rows through a ring of stages in
// shared memory: one warp issues bulk copies (the copy engine writes shared memory and
// signals an mbarrier, no registers held), eight warps add up each stage as it lands and free
// its slot. The first stages are asked for before waiting for the previous kernel.
//
// Work: a unit is a row pair of a target (SwiGLU: gate row n and up row n, output n), units
// dealt to the grid's consumer warps in turn; a stage holds one piece of `chunk_blocks`
// weight blocks of both rows of every warp's current unit, so each warp's lane sums the
// same blocks in the same order as the register-held kernel's lane.
#include "kernels/cuda/gemv_stream.cuh"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "kernels/cuda/env_switch.h"
#include "kernels/cuda/mma_util.cuh"

namespace strata::cuda::gemv_detail {

namespace {

constexpr int kStreamWarps = 8;  // consumer warps of a block; one more issues the copies
constexpr int kStreamThreads = (kStreamWarps + 1) * 32;
constexpr int kMaxStages = 8;
// The ring of one block: two fit an SM, so that the next launch's block can start its
// copies beside this one's last stages.
constexpr int64_t kRingBudget = int64_t{96} << 10;
constexpr int64_t kMaxChunkCols = 2048;

// For the session-21 sweep: STRATA_CUDA_GEMV_STREAM_CHUNK (columns of a piece at most) and
// STRATA_CUDA_GEMV_STREAM_RING_KB (a block's ring); read once.
int64_t env_int(const char* name, int64_t fallback) {
  const char* set = std::getenv(name);
  return set ? std::strtoll(set, nullptr, 10) : fallback;
}
int64_t ring_budget() {
  static const int64_t bytes = env_int("STRATA_CUDA_GEMV_STREAM_RING_KB", kRingBudget >> 10) << 10;
  return bytes;
}
int64_t max_chunk_cols() {
  static const int64_t cols = env_int("STRATA_CUDA_GEMV_STREAM_CHUNK", kMaxChunkCols);
  return cols;
}

// A launch's division of work, the same for every block.
struct StreamPlan {
  int64_t units;     // row pairs (SwiGLU: output rows): first_block[count]
  int chunks;        // pieces of a row, one a stage
  int chunk_blocks;  // weight blocks of a piece
  int stages;        // slots of the ring
  int stage_bytes;
};

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void barrier_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(shared_address(bar)), "r"(count) : "memory");
}

__device__ __forceinline__ void barrier_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(shared_address(bar)) : "memory");
}

// The producer's arrival, with the bytes its copies will bring.
__device__ __forceinline__ void barrier_arrive_expect(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void barrier_wait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}"
        : "=r"(done)
        : "r"(shared_address(bar)), "r"(parity)
        : "memory");
  } while (!done);
}

// 16-byte aligned, a multiple of 16 bytes; completion counted on `bar`.
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                   shared_address(dst)),
               "l"(src), "r"(bytes), "r"(shared_address(bar))
               : "memory");
}

// Where a stage keeps the piece of row r (0, 1) of consumer warp w: all quants, then all
// scales, then (Q4_1) all mins.
template <DType Type>
struct StageLayout {
  static constexpr int kQuantBytes = Type == DType::Q8_0 ? 32 : 16;
  int quant_bytes, scale_bytes;  // of a row's piece
  __device__ explicit StageLayout(int chunk_blocks) : quant_bytes(chunk_blocks * kQuantBytes), scale_bytes(chunk_blocks * 2) {}
  __device__ int quants(int w, int r) const { return (2 * w + r) * quant_bytes; }
  __device__ int scales(int w, int r) const { return 2 * kStreamWarps * quant_bytes + (2 * w + r) * scale_bytes; }
  __device__ int mins(int w, int r) const {
    return 2 * kStreamWarps * (quant_bytes + scale_bytes) + (2 * w + r) * scale_bytes;
  }
};

// The unit that consumer warp w of this block takes at stage k (compare with plan.units).
__device__ __forceinline__ int64_t unit_of(const StreamPlan& plan, int w, int k) {
  return (int64_t{blockIdx.x} + int64_t{k / plan.chunks} * gridDim.x) * kStreamWarps + w;
}

__device__ __forceinline__ WarpRows unit_rows(const GemvBatch& b, int64_t unit, GemvArgs& a) {
  int64_t local;
  a = resolve_index(b, unit, local);
  return warp_rows<kWarpsPerBlock>(b, a, local);  // SplitK > 1: `local` is the row group itself
}

// Stage k's copies into `slot`, counted on `full`, by the producer warp: lane l copies one
// piece, consumer warp l / 4's row (l / 2) % 2, its quants (even lanes) or its scales (odd
// lanes; Q4_1's mins too). One thread issuing them all took microseconds of address
// arithmetic before the first copy of a ring went out.
template <DType Type>
__device__ __forceinline__ void issue_stage(const GemvBatch& b, const StreamPlan& plan, int k, uint8_t* slot,
                                            uint64_t* full) {
  static_assert(kStreamWarps * kRowsPerWarp * 2 == 32, "a lane a piece");
  const StageLayout<Type> layout(plan.chunk_blocks);
  const int lane = threadIdx.x % 32, w = lane / 4, r = lane / 2 % 2;
  const int64_t unit = unit_of(plan, w, k);
  uint32_t bytes = 0;
  if (unit < plan.units) {
    GemvArgs a;
    const WarpRows rows = unit_rows(b, unit, a);
    const WeightRef& weight = r == 0 ? rows.w[0] : rows.w[1];  // constant indices: no local copy
    const PackedBlocks p = packed_blocks(weight);
    const int64_t first = (r == 0 ? rows.row[0] : rows.row[1]) * (weight.cols / 32) + (k % plan.chunks) * plan.chunk_blocks;
    if (lane % 2 == 0) {
      bulk_copy(slot + layout.quants(w, r), p.quants + first * StageLayout<Type>::kQuantBytes, layout.quant_bytes, full);
      bytes = layout.quant_bytes;
    } else {
      bulk_copy(slot + layout.scales(w, r), p.scales + first, layout.scale_bytes, full);
      bytes = layout.scale_bytes;
      if constexpr (Type == DType::Q4_1) {
        bulk_copy(slot + layout.mins(w, r), p.mins + first, layout.scale_bytes, full);
        bytes += layout.scale_bytes;
      }
    }
  }
  // The arrival may come before or after the copies land: the phase ends once both are in.
  bytes = __reduce_add_sync(0xffffffffu, bytes);
  if (lane == 0) barrier_arrive_expect(full, bytes);
}

// Where a warp's two rows' pieces of a stage lie in shared memory.
struct Piece {
  const uint8_t* quants[kRowsPerWarp];
  const uint8_t* scales[kRowsPerWarp];
  const uint8_t* mins[kRowsPerWarp];  // Q4_1 only
};

// A warp's sums over its piece of a stage.
template <DType Type>
__device__ __forceinline__ void add_piece(const GemvBatch& b, const StreamPlan& plan, const Piece& piece, int64_t chunk,
                                          PartialSums<1>& sums) {
  constexpr int kLoads = Type == DType::Q8_0 ? 2 : 1;
  constexpr int kQuantBytes = Type == DType::Q8_0 ? 32 : 16;
  const SplitRows& x = b.split;
#pragma unroll 2
  for (int j = threadIdx.x % 32; j < plan.chunk_blocks; j += 32) {
    const int64_t block = chunk * plan.chunk_blocks + j;
    const int4* hi = reinterpret_cast<const int4*>(x.hi + block * 32);
    const int4* lo = reinterpret_cast<const int4*>(x.lo + block * 32);
    const int4 h0 = __ldg(hi), h1 = __ldg(hi + 1), l0 = __ldg(lo), l1 = __ldg(lo + 1);
    const SplitGroup g = load_group(x.groups + block);
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      uint4 raw[kLoads];
#pragma unroll
      for (int l = 0; l < kLoads; ++l) raw[l] = *reinterpret_cast<const uint4*>(piece.quants[r] + j * kQuantBytes + 16 * l);
      const float scale = __half2float(reinterpret_cast<const __half*>(piece.scales[r])[j]);
      float min = 0.f;
      if constexpr (Type == DType::Q4_1) min = __half2float(reinterpret_cast<const __half*>(piece.mins[r])[j]);
      sums.dot[0][r] += split_block_dot<Type>(raw, scale, min, h0, h1, l0, l1, g);
    }
  }
}

template <DType Type>
__device__ __forceinline__ Piece stage_piece(const StageLayout<Type>& layout, const uint8_t* slot, int w) {
  Piece p{};
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    p.quants[r] = slot + layout.quants(w, r);
    p.scales[r] = slot + layout.scales(w, r);
    p.mins[r] = slot + layout.mins(w, r);
  }
  return p;
}

// Adds warp `w`'s piece of stage k and, after a unit's last piece, stores its rows.
template <DType Type>
__device__ __forceinline__ void consume(const GemvBatch& b, const StreamPlan& plan, const Piece& piece, int w, int k,
                                        PartialSums<1>& sums) {
  const int64_t unit = unit_of(plan, w, k), chunk = k % plan.chunks;
  if (unit >= plan.units) return;
  add_piece<Type>(b, plan, piece, chunk, sums);
  if (chunk != plan.chunks - 1) return;
  GemvArgs a;
  const WarpRows rows = unit_rows(b, unit, a);
  finish_rows<1, false>(sums, b, a, rows.n0, lane_rope_angle(b, a, rows.n0));
  sums = PartialSums<1>{};
}

template <DType Type>
__global__ void __launch_bounds__(kStreamThreads, 2) gemv_stream_kernel(GemvBatch batch, StreamPlan plan) {
  __shared__ uint64_t full[kMaxStages], empty[kMaxStages];
  extern __shared__ __align__(128) uint8_t stream_ring[];
  const int warp = threadIdx.x / 32;
  // Warp 0 has the most units; every warp steps through all of this block's stages (one
  // without a unit there only keeps the barriers' phases).
  const int64_t warps = int64_t{gridDim.x} * kStreamWarps, first_unit = int64_t{blockIdx.x} * kStreamWarps;
  const int64_t units = first_unit < plan.units ? (plan.units - first_unit + warps - 1) / warps : 0;
  const int stages = static_cast<int>(units) * plan.chunks;
  if (threadIdx.x == 0) {
    for (int s = 0; s < plan.stages; ++s) barrier_init(&full[s], 1), barrier_init(&empty[s], kStreamWarps);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (warp == kStreamWarps) {
    // The weights were written long before: the first ring goes out before the wait.
    const int first = std::min(stages, plan.stages);
    for (int k = 0; k < first; ++k) issue_stage<Type>(batch, plan, k, stream_ring + k * plan.stage_bytes, &full[k]);
    wait_for_previous_kernel();
    for (int k = first; k < stages; ++k) {
      const int s = k % plan.stages;
      barrier_wait(&empty[s], (k / plan.stages - 1) & 1);  // stage k - stages consumed
      issue_stage<Type>(batch, plan, k, stream_ring + s * plan.stage_bytes, &full[s]);
    }
    return;
  }
  wait_for_previous_kernel();  // the activations are the previous kernel's
  PartialSums<1> sums;
  for (int k = 0; k < stages; ++k) {
    const int s = k % plan.stages;
    barrier_wait(&full[s], (k / plan.stages) & 1);
    consume<Type>(batch, plan, stage_piece(StageLayout<Type>(plan.chunk_blocks), stream_ring + s * plan.stage_bytes, warp),
                  warp, k, sums);
    __syncwarp();
    if (threadIdx.x % 32 == 0) barrier_arrive(&empty[s]);
  }
}

// The other way to fill a ring without registers (STRATA_CUDA_GEMV_STREAM=2): every warp
// streams its own units through a ring of its own with 16-byte cp.async copies, kWarpStages
// deep, no barriers between warps (one copy a lane per 16 bytes, as the register-held
// kernel's loads, instead of one bulk copy a row piece).
constexpr int kWarpStages = 4;
constexpr int kWarpRingBlocksPerSm = 2;

// A warp's slot: its two rows' quants, then their scales, then (Q4_1) their mins.
template <DType Type>
struct WarpSlot {
  int quant_bytes, scale_bytes, bytes;
  __host__ __device__ explicit WarpSlot(int chunk_blocks)
      : quant_bytes(chunk_blocks * (Type == DType::Q8_0 ? 32 : 16)),
        scale_bytes(chunk_blocks * 2),
        bytes(kRowsPerWarp * (quant_bytes + scale_bytes * (Type == DType::Q4_1 ? 2 : 1))) {}
  __device__ Piece piece(const uint8_t* slot) const {
    Piece p{};
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      p.quants[r] = slot + r * quant_bytes;
      p.scales[r] = slot + kRowsPerWarp * quant_bytes + r * scale_bytes;
      p.mins[r] = slot + kRowsPerWarp * (quant_bytes + scale_bytes) + r * scale_bytes;
    }
    return p;
  }
};

// This warp's copies of stage k into `slot`, one commit group (empty past its last stage).
template <DType Type>
__device__ __forceinline__ void warp_issue(const GemvBatch& b, const StreamPlan& plan, int k, int stages, uint8_t* slot) {
  const WarpSlot<Type> layout(plan.chunk_blocks);
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t unit = unit_of(plan, w, k);
  if (k < stages && unit < plan.units) {
    GemvArgs a;
    const WarpRows rows = unit_rows(b, unit, a);
    const Piece to = layout.piece(slot);
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const PackedBlocks p = packed_blocks(rows.w[r]);
      const int64_t first = rows.row[r] * (rows.w[r].cols / 32) + (k % plan.chunks) * plan.chunk_blocks;
      const uint8_t* quants = p.quants + first * (Type == DType::Q8_0 ? 32 : 16);
      for (int i = lane; i < layout.quant_bytes / 16; i += 32)
        cp_async_16(const_cast<uint8_t*>(to.quants[r]) + 16 * i, quants + 16 * i, 16);
      const auto* scales = reinterpret_cast<const uint8_t*>(p.scales + first);
      const auto* mins = reinterpret_cast<const uint8_t*>(p.mins + first);
      for (int i = lane; i < layout.scale_bytes / 16; i += 32) {
        cp_async_16(const_cast<uint8_t*>(to.scales[r]) + 16 * i, scales + 16 * i, 16);
        if constexpr (Type == DType::Q4_1) cp_async_16(const_cast<uint8_t*>(to.mins[r]) + 16 * i, mins + 16 * i, 16);
      }
    }
  }
  cp_async_commit();
}

template <DType Type>
__global__ void __launch_bounds__(kStreamWarps * 32, kWarpRingBlocksPerSm) gemv_warp_ring_kernel(GemvBatch batch,
                                                                                                  StreamPlan plan) {
  extern __shared__ __align__(128) uint8_t stream_ring[];
  const int warp = threadIdx.x / 32;
  const WarpSlot<Type> layout(plan.chunk_blocks);
  uint8_t* ring = stream_ring + warp * kWarpStages * layout.bytes;
  const int64_t warps = int64_t{gridDim.x} * kStreamWarps, first_unit = int64_t{blockIdx.x} * kStreamWarps + warp;
  const int64_t units = first_unit < plan.units ? (plan.units - first_unit + warps - 1) / warps : 0;
  const int stages = static_cast<int>(units) * plan.chunks;
  // The weights were written long before: the first stages go out before the wait.
  for (int k = 0; k < kWarpStages - 1; ++k) warp_issue<Type>(batch, plan, k, stages, ring + k * layout.bytes);
  wait_for_previous_kernel();
  PartialSums<1> sums;
  for (int k = 0; k < stages; ++k) {
    const int next = k + kWarpStages - 1;
    warp_issue<Type>(batch, plan, next, stages, ring + (next % kWarpStages) * layout.bytes);
    cp_async_wait_group<kWarpStages - 1>();  // stage k's copies of this lane are in
    __syncwarp();                            // and every lane's
    consume<Type>(batch, plan, layout.piece(ring + (k % kWarpStages) * layout.bytes), warp, k, sums);
    __syncwarp();  // slot k is refilled at the next step
  }
}

// STRATA_CUDA_GEMV_STREAM: 1 bulk copies into a block's ring, 2 each warp's own ring; read once.
int stream_mode() {
  static const int mode = env_is("STRATA_CUDA_GEMV_STREAM", "1") ? 1 : env_is("STRATA_CUDA_GEMV_STREAM", "2") ? 2 : 0;
  return mode;
}

bool stream_enabled() { return stream_mode() != 0; }

constexpr int quant_bytes(DType t) { return t == DType::Q8_0 ? 32 : 16; }

bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

StreamPlan plan_for(const GemvBatch& b) {
  const DType t = b.targets[0].w.dtype;
  const int64_t cols = b.targets[0].w.cols;
  int64_t chunk = max_chunk_cols();
  while (cols % chunk != 0) chunk /= 2;
  StreamPlan plan{};
  plan.units = b.first_block[b.count];
  plan.chunks = static_cast<int>(cols / chunk);
  plan.chunk_blocks = static_cast<int>(chunk / 32);
  const int64_t row_piece = plan.chunk_blocks * (quant_bytes(t) + (t == DType::Q4_1 ? 4 : 2));
  plan.stage_bytes = static_cast<int>(2 * kStreamWarps * row_piece);
  plan.stages = static_cast<int>(std::clamp<int64_t>(ring_budget() / plan.stage_bytes, 2, kMaxStages));
  if (int64_t{plan.stages} * plan.stage_bytes > ring_budget())
    throw Error("gemv_stream: a stage of " + std::to_string(plan.stage_bytes) + " bytes leaves no ring of two");
  return plan;
}

template <DType Type>
void launch_typed(const GemvBatch& b, const StreamPlan& plan, int multiprocessors, cudaStream_t stream) {
  static const bool opened = [] {
    cuda_check(cudaFuncSetAttribute(gemv_stream_kernel<Type>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(ring_budget())),
               "cudaFuncSetAttribute(gemv_stream_kernel)");
    cuda_check(cudaFuncSetAttribute(gemv_warp_ring_kernel<Type>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(ring_budget())),
               "cudaFuncSetAttribute(gemv_warp_ring_kernel)");
    return true;
  }();
  (void)opened;
  const int64_t blocks_needed = (plan.units + kStreamWarps - 1) / kStreamWarps;
  if (stream_mode() == 2) {
    const size_t shared = static_cast<size_t>(kStreamWarps * kWarpStages * WarpSlot<Type>(plan.chunk_blocks).bytes);
    if (static_cast<int64_t>(shared) > ring_budget()) throw Error("gemv_stream: a warp ring past the budget");
    const int64_t grid = std::min<int64_t>(int64_t{kWarpRingBlocksPerSm} * multiprocessors, blocks_needed);
    launch_kernel(gemv_warp_ring_kernel<Type>, dim3(static_cast<unsigned>(grid)), kStreamWarps * 32, shared, stream, b,
                  plan);
    return;
  }
  const size_t shared = static_cast<size_t>(plan.stages) * static_cast<size_t>(plan.stage_bytes);
  const int64_t grid = std::min<int64_t>(multiprocessors, blocks_needed);
  launch_kernel(gemv_stream_kernel<Type>, dim3(static_cast<unsigned>(grid)), kStreamThreads, shared, stream, b, plan);
}

}  // namespace

bool stream_takes(const GemvBatch& b) {
  if (!stream_enabled() || b.m != 1 || !b.split.hi || b.count == 0) return false;
  const WeightRef& w = b.targets[0].w;
  if (w.cols % 256 != 0 || (w.dtype != DType::Q8_0 && w.dtype != DType::Q4_0 && w.dtype != DType::Q4_1)) return false;
  for (int i = 0; i < b.count; ++i)
    if (!aligned(b.targets[i].w.data)) return false;
  return !b.swiglu || aligned(b.up.data);
}

void launch_stream(GemvBatch b, int multiprocessors, cudaStream_t stream) {
  int32_t units = 0;
  for (int i = 0; i < b.count; ++i) {
    b.first_block[i] = units;
    const int64_t rows = b.targets[i].w.rows;
    units += static_cast<int32_t>(b.swiglu ? rows : (rows + 1) / 2);
  }
  b.first_block[b.count] = units;
  b.split_k = 1;
  const StreamPlan plan = plan_for(b);
  switch (b.targets[0].w.dtype) {
    case DType::Q8_0: launch_typed<DType::Q8_0>(b, plan, multiprocessors, stream); break;
    case DType::Q4_0: launch_typed<DType::Q4_0>(b, plan, multiprocessors, stream); break;
    case DType::Q4_1: launch_typed<DType::Q4_1>(b, plan, multiprocessors, stream); break;
    default: throw Error("gemv_stream: no kernel for weight dtype " + std::string(dtype_name(b.targets[0].w.dtype)));
  }
}

}  // namespace strata::cuda::gemv_detail
