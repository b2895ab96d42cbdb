// Small-batch matrix products y[m, n] = x[m, :] · w[n, :] for m <= kMaxGemvRows: decode is
// bound by reading the weights, so each weight row is read once, with 16-byte loads, by
// one warp that keeps the dot products of all m activation rows in registers. Float
// weights meet f32 activations (read from L1/L2, they are small); block-quantized weights
// meet the split int16 activations (gemv_split_kernel, dp4a), or with STRATA_CUDA_GEMV=f32
// f32 ones (gemv_quant_kernel, quants decoded to floats), or with STRATA_CUDA_GEMV=int8 the
// int8 ones of gemv_q8.cu, or with STRATA_CUDA_GEMV=f16 (one row of Q4_0) f32 ones rounded to
// f16 on the tensor cores (gemv_half_mma.cu).
// The f32 weight path needs 32-byte aligned rows, which every multiple-of-8 row gives.
#include <string>

#include "core/error.h"
#include "kernels/cuda/gemv_kernels.cuh"

namespace strata::cuda {

namespace {

using namespace gemv_detail;

// STRATA_CUDA_SPLIT_K=0 keeps a warp a row group everywhere (A/B runs); read once.
bool split_k_enabled() {
  static const bool enabled = !env_is("STRATA_CUDA_SPLIT_K", "0");
  return enabled;
}

// STRATA_CUDA_NORM=separate leaves the norm before float weights' products to its own
// kernel (A/B runs); read once. (Folding it through shared memory instead of scaled sums
// measured slower: SmolLM2 1,260.80 vs 1,343.12 tok/s, 1B 730.38 vs 830.04, H200, session 9.)
bool separate_norm_for_floats() {
  static const bool separate = env_is("STRATA_CUDA_NORM", "separate");
  return separate;
}

bool early_loads_enabled() {
  static const bool enabled = !env_is("STRATA_CUDA_EARLY_LOADS", "0");
  return enabled;
}

int multiprocessors() {
  static const int count = [] {
    int device = 0, n = 0;
    cuda_check(cudaGetDevice(&device), "cudaGetDevice");
    cuda_check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
    return n;
  }();
  return count;
}


// Products of few rows spread each row over a block's warps (SplitK): with a warp a row
// group, fewer than about four blocks an SM left the GPU latency-bound (H200: a 2048-row
// F16 product at a fifth of the copy rate). Only the float-activation kernel of
// block-quantized weights keeps one warp a row group.
constexpr int kSplitBelowBlocksPerSm = 4;

void assign_blocks(GemvBatch& b) {
  const bool swiglu = b.swiglu;
  const auto blocks = [&](int split_k) {
    return lay_out_blocks(b, (swiglu ? 1 : kRowsPerWarp) * (split_k > 1 ? 1 : kWarpsPerBlock));
  };
  const bool can_split = b.split.hi || is_float(b.targets[0].w.dtype);
  // A thread's loads of a row: 16-byte chunks of float weights, 32-weight blocks of
  // quantized ones. Rows of fewer than two a thread once split (SmolLM2's 576 and 1,536)
  // measured slower split: 1,100.95 vs 1,169.52 tok/s (H200, session 9 run 1), against
  // +3% for the 1B and 8B shapes, whose rows give each thread 2 to 14.
  const int64_t row_loads = b.targets[0].w.cols / (b.split.hi ? 32 : 8);
  const bool long_rows = row_loads >= 2 * kWarpsPerBlock * 32;
  b.split_k = 1;
  const int32_t unsplit = blocks(1);  // always: it also lays out the grid when rows stay whole
  if (can_split && long_rows && split_k_enabled() && unsplit < kSplitBelowBlocksPerSm * multiprocessors()) {
    b.split_k = kWarpsPerBlock;
    blocks(kWarpsPerBlock);
  }
}

}  // namespace

namespace {

void check_activations(const float* x, int64_t x_stride, int64_t m, DType weights, int64_t cols,
                       const GemvNorm& norm, const SplitRows* split, bool half) {
  if (m > kMaxGemvRows) throw Error("gemv: " + std::to_string(m) + " rows exceed " + std::to_string(kMaxGemvRows));
  if (split && (split->rows != m || split->cols != cols || norm.weight))
    throw Error("gemv: split activations of another shape, or with a norm to fold");
  if (x_stride % 4 != 0 || reinterpret_cast<uintptr_t>(x) % 16 != 0)
    throw Error("gemv: needs 16-byte aligned activation rows");
  if (norm.weight && !half && !gemv_norm_folds(weights, m, cols))
    throw Error("gemv: " + std::to_string(m) + " normalized rows of " + std::to_string(cols) +
                " exceed the shared memory of a norm folded into block-quantized products");
}

// The grid laid out for the kernel that takes the launch, then the launch.
void launch_for_batch(GemvBatch& b, int64_t m, cudaStream_t stream) {
  if (b.half_mma) return launch_gemv_half_mma(b, stream);
  assign_blocks(b);
  if (m == 1) launch_for_rows<1>(b, stream);
  else if (m == 2) launch_for_rows<2>(b, stream);
  else if (m <= 4) launch_for_rows<4>(b, stream);
  else launch_for_rows<8>(b, stream);
}

void check_rope(const GemvTarget* targets, int count, const GemvRope& rope) {
  const int dim = rope.cache.head_dim;
  if (count != 3 || dim <= 0 || dim % 2 != 0 || !rope.positions || !rope.slots || !rope.inv_freq)
    throw Error("gemv: the rope epilogue needs q, k and v, an even head size and the batch's positions and slots");
  for (int i = 0; i < 3; ++i)
    if (targets[i].w.rows == 0 || targets[i].w.rows % dim != 0 || targets[i].accumulate)
      throw Error("gemv: the rope epilogue needs q, k and v rows of whole heads of " + std::to_string(dim));
  if (targets[1].w.rows != int64_t{rope.cache.kv_heads} * dim || targets[2].w.rows != targets[1].w.rows)
    throw Error("gemv: k and v rows (" + std::to_string(targets[1].w.rows) + ", " + std::to_string(targets[2].w.rows) +
                ") are not the cache's " + std::to_string(rope.cache.kv_heads) + " heads of " + std::to_string(dim));
}

}  // namespace

bool gemv_norm_fits(int64_t m, int64_t cols) { return m * cols * int64_t{sizeof(float)} <= kMaxNormedGemvBytes; }

bool gemv_norm_folds(DType weights, int64_t m, int64_t cols) {
  return is_float(weights) ? !separate_norm_for_floats() : gemv_norm_fits(m, cols);
}

void launch_gemv_many(const GemvTarget* targets, int count, const float* x, int64_t x_stride, int64_t m,
                      cudaStream_t stream, GemvNorm norm, const SplitRows* split, const GemvRope* rope, bool half) {
  if (m <= 0 || count <= 0) return;
  half = half && !split && gemv_half_mma_takes(targets[0].w.dtype, m, targets[0].w.cols);
  check_activations(x, x_stride, m, targets[0].w.dtype, targets[0].w.cols, norm, split, half);
  if (count > kMaxGemvTargets) throw Error("gemv: more than " + std::to_string(kMaxGemvTargets) + " products");
  if (rope) check_rope(targets, count, *rope);
  GemvBatch b{x, x_stride, static_cast<int>(m), 0, {}, {}, false, {}, norm, split ? *split : SplitRows{}, 1,
              rope ? *rope : GemvRope{}, early_loads_enabled(), half};
  for (int i = 0; i < count; ++i) {
    const WeightRef& w = targets[i].w;
    if (w.cols % 8 != 0 || w.dtype != targets[0].w.dtype || w.cols != targets[0].w.cols)
      throw Error("gemv: one launch needs one weight dtype and row length, rows of a multiple of 8");
    if (w.rows == 0) continue;
    b.targets[b.count++] = targets[i];
  }
  if (b.count == 0) return;
  launch_for_batch(b, m, stream);
}

void launch_gemv_swiglu(float* y, int64_t y_stride, const float* x, int64_t x_stride, int64_t m, WeightRef gate,
                        WeightRef up, cudaStream_t stream, GemvNorm norm, const SplitRows* split, bool half) {
  if (m <= 0 || gate.rows == 0) return;
  half = half && !split && gemv_half_mma_takes(gate.dtype, m, gate.cols);
  check_activations(x, x_stride, m, gate.dtype, gate.cols, norm, split, half);
  if (gate.cols % 8 != 0 || gate.dtype != up.dtype || gate.rows != up.rows || gate.cols != up.cols)
    throw Error("gemv_swiglu: gate and up need one dtype and shape, rows of a multiple of 8");
  GemvBatch b{x, x_stride, static_cast<int>(m), 1, {}, {}, true, up, norm, split ? *split : SplitRows{}, 1,
              GemvRope{}, early_loads_enabled(), half};
  b.targets[0] = GemvTarget{y, y_stride, gate, false};
  launch_for_batch(b, m, stream);
}

void launch_gemv(float* y, int64_t y_stride, const float* x, int64_t x_stride, int64_t m, WeightRef w,
                 cudaStream_t stream) {
  const GemvTarget target{y, y_stride, w, false};
  launch_gemv_many(&target, 1, x, x_stride, m, stream);
}

}  // namespace strata::cuda
