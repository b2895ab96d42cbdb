#pragma once
// Host-side launchers of the CUDA kernels: raw device pointers and sizes in, work queued on
// `stream` out. The backend (cuda_backend_*.cpp) checks tensors and calls these; the
// kernels in the .cu files know nothing of Tensor.
#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace strata::cuda {

// An f32 tensor of rank 1..3 seen as rows of its dense last dimension (as cpu/rows.h).
struct RowsF32 {
  float* base = nullptr;
  int64_t width = 0, count = 0, inner_count = 1, outer_stride = 0, inner_stride = 0;
};

// A weight matrix [rows, cols] in device memory. Q8_0/Q4_0/Q4_1 are stored repacked (see
// weight_layout.h): the packed quants of every block first, then the f16 scales (and
// mins), so that kernels load 16-byte aligned vectors.
struct WeightRef {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;
};

void launch_rms_norm(RowsF32 y, RowsF32 x, const float* weight, float eps, cudaStream_t stream);
void launch_silu_mul(RowsF32 y, RowsF32 gate, RowsF32 up, cudaStream_t stream);
void launch_add(RowsF32 y, RowsF32 a, RowsF32 b, cudaStream_t stream);
void launch_add_bias(RowsF32 y, const float* bias, cudaStream_t stream);
// y[l] = x[rows[l]]; an index outside [0, x_rows) fills its row with NaN.
void launch_gather_rows(float* y, int64_t y_stride, const float* x, int64_t x_stride, int64_t x_rows,
                        const int32_t* rows, int64_t count, int64_t width, cudaStream_t stream);
// ids[r] = the index of the largest value of row r (Backend::argmax_rows).
void launch_argmax_rows(int32_t* ids, const float* logits, int64_t stride, int64_t rows, int64_t width,
                        cudaStream_t stream);
// One row's sampling as the kernel reads it (sampling/row_sampling.h's RowSampling, plain).
struct DeviceRowSampling {
  float temperature, top_p, min_p, repetition_penalty, frequency_penalty, presence_penalty;
  int32_t top_k;
  int32_t seen_begin, seen_end, counts_begin, counts_end, bias_begin, bias_end;
  double u;
};
// The processors' lists of all rows, in device memory.
struct DeviceSamplingLists {
  const int32_t* seen;
  const int32_t* count_tokens;
  const int32_t* counts;
  const int32_t* bias_tokens;
  const float* bias;
};
// ids[r] = sample_row() of row r of logits (modified in place by the processors): the
// same tokens as the host reference, bar rounding right at a boundary between two tokens.
// width <= kMaxSampledVocab (the kernel's fixed-point masses).
inline constexpr int64_t kMaxSampledVocab = int64_t{1} << 21;
void launch_sample_rows(int32_t* ids, float* logits, int64_t stride, int64_t rows, int64_t width,
                        const DeviceRowSampling* params, DeviceSamplingLists lists, cudaStream_t stream);
// y[t] = table[ids[t]] as f32; an id outside the table fills its row with NaN.
void launch_embedding(float* y, int64_t y_stride, WeightRef table, const int32_t* ids, int64_t count,
                      cudaStream_t stream);

// In place on x[t, h, :]; inv_freq[half] from cpu::rope_inv_freq. Angles in double, as
// the CPU table computes them, so both backends rotate by the same angles.
void launch_rope(float* x, int64_t token_stride, int64_t head_stride, int64_t tokens, int64_t heads,
                 const int32_t* positions, const double* inv_freq, int half, bool neox, cudaStream_t stream);

// x rows (f32, strided) -> dense bf16 or f16 rows for the tensor-core GEMM.
void launch_convert_rows(const float* x, int64_t x_stride, int64_t rows, int64_t cols, void* out, DType out_type,
                         cudaStream_t stream);
// out[rows, cols] (dense, out_type f16 or bf16) = rms_norm(x) * weight, rounded once: the
// input of tensor-core products that follow a norm. `vectorized`: rows of up to 8,192
// aligned floats read once in float4 vectors (the default; CudaBackendOptions::plain_kernels: off).
void launch_rms_norm_rows(const float* x, int64_t x_stride, int64_t rows, int64_t cols, const float* weight, float eps,
                          void* out, DType out_type, bool vectorized, cudaStream_t stream);
// out[rows, cols] (dense, f16 or bf16) = silu(gate) * up of f32 rows (strided), rounded
// once: the down product's input on the tensor cores.
void launch_swiglu_rows(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride, int64_t rows,
                        int64_t cols, void* out, DType out_type, cudaStream_t stream);
// Rows [first_row, first_row + rows) of a weight -> dense bf16.
void launch_dequantize_rows(WeightRef w, int64_t first_row, int64_t rows, void* out_bf16, cudaStream_t stream);

// y[m, n] = sum_k x[m, k] w[n, k] for m < M <= kMaxGemvRows, reading the weight once.
constexpr int kMaxGemvRows = 8;
void launch_gemv(float* y, int64_t y_stride, const float* x, int64_t x_stride, int64_t m, WeightRef w,
                 cudaStream_t stream);
// Several products of the same activation rows in one launch (q/k/v, gate/up: decode pays
// for each launch); all weights of one dtype and row length. `accumulate`: y += x · wᵀ.
struct GemvTarget {
  float* y = nullptr;
  int64_t y_stride = 0;
  WeightRef w;
  bool accumulate = false;
};
constexpr int kMaxGemvTargets = 4;
// Activation rows in the CPU backend's integer form for block-quantized weights (see
// cpu/matmul_internal.h): groups of 32 as int16, x ~ d * q with d = amax / levels, and q
// split into signed bytes q = 256 hi + lo for dp4a. Relative error ~1e-5 (int8 groups
// lose enough to flip a model's top token). Per group: d, the exact f32 sum of the group
// (Q4_1's min multiplies it) and the integer sum of q (Q4_0's offset 8 multiplies it).
struct SplitGroup {
  float d;
  float sum;
  int32_t q_sum;
  int32_t unused;
};
struct SplitRows {
  int8_t* hi = nullptr;  // [rows, cols]
  int8_t* lo = nullptr;  // [rows, cols]
  SplitGroup* groups = nullptr;  // [rows, cols / 32]
  int64_t rows = 0, cols = 0;
};
size_t split_rows_bytes(int64_t rows, int64_t cols);
SplitRows split_rows_view(void* buffer, int64_t rows, int64_t cols);

// RMSNorm folded into a GEMV launch, which saves the norm's launch at the price of every
// block reading x: float weights' products read x * weight on the fly and scale their sums
// by 1 / rms (any row length); the f32-activation path of block-quantized weights
// normalizes the m rows into each block's shared memory when they fit kMaxNormedGemvBytes.
struct GemvNorm {
  const float* weight = nullptr;  // none: the products read x
  float eps = 0.f;
};
constexpr int64_t kMaxNormedGemvBytes = int64_t{12} << 10;
bool gemv_norm_fits(int64_t m, int64_t cols);
// Whether a GEMV of these weights takes m rows of cols with the norm folded in.
bool gemv_norm_folds(DType weights, int64_t m, int64_t cols);
// x rows (f32, cols % 32 == 0), normalized first when norm.weight is set (the floats
// rms_norm gives), -> out, |q| <= levels (cpu::activation_levels of the weight format).
constexpr int kMaxSplitLevels = 127 * 256 + 127;  // the most that splits into two signed bytes
void launch_split_rows(const float* x, int64_t x_stride, const GemvNorm& norm, int levels, SplitRows out,
                       cudaStream_t stream);
struct GemvRope;
// `split`: the products read these split activations of x instead (block-quantized
// weights only; norm must then be none, the split rows being normalized already).
// `rope`: the three targets are q, k and v of the attention block (see GemvRope).
// `half`: products that gemv_half_mma_takes() run on the tensor cores with x rounded to f16
// (the norm folded at any size); the rest as without it.
void launch_gemv_many(const GemvTarget* targets, int count, const float* x, int64_t x_stride, int64_t m,
                      cudaStream_t stream, GemvNorm norm = {}, const SplitRows* split = nullptr,
                      const GemvRope* rope = nullptr, bool half = false);
// Whether the f16-activation tensor-core GEMV takes m rows of these weights (Q4_0, one
// row, columns a multiple of 128 up to 16,384).
bool gemv_half_mma_takes(DType weights, int64_t m, int64_t cols);

// y[m, n] = silu(x[m] · gate[n]) * (x[m] · up[n]) in one pass over both weights (a warp
// reads gate row n beside up row n); gate and up of one dtype and shape, m <= kMaxGemvRows.
void launch_gemv_swiglu(float* y, int64_t y_stride, const float* x, int64_t x_stride, int64_t m, WeightRef gate,
                        WeightRef up, cudaStream_t stream, GemvNorm norm = {}, const SplitRows* split = nullptr,
                        bool half = false);

// Activation rows quantized to int8 blocks of 32 (the integer GEMV's input): `quants`
// [rows, cols] dense, `scales` [rows, cols / 32] of (d, d * sum of the block's quants),
// value ~= d * quant. One buffer of quantized_rows_bytes() holds both.
struct QuantizedRows {
  int8_t* quants = nullptr;
  float2* scales = nullptr;
  int64_t rows = 0, cols = 0;
};
size_t quantized_rows_bytes(int64_t rows, int64_t cols);
QuantizedRows quantized_rows_view(void* buffer, int64_t rows, int64_t cols);
// x rows (f32, 16-byte aligned, cols % 32 == 0) -> int8 blocks with d = amax / 127.
void launch_quantize_rows(const float* x, int64_t x_stride, QuantizedRows out, cudaStream_t stream);
// The integer GEMV: y[m, n] = sum_k x[m, k] w[n, k] from int8 activations, for the block
// formats (Q8_0, Q4_0, Q4_1) with dp4a; m <= kMaxGemvRows.
bool gemv_q8_supports(DType weight_type);
void launch_gemv_q8(float* y, int64_t y_stride, QuantizedRows x, WeightRef w, cudaStream_t stream);

// Paged KV cache of one layer: [num_blocks, block_size, kv_heads, head_dim], f16 or f32.
struct KVLayer {
  void* k = nullptr;
  void* v = nullptr;
  bool f16 = true;
  int block_size = 16, kv_heads = 0, head_dim = 0;
  int64_t num_slots = 0;  // num_blocks * block_size
};

// k, v: [T, kv_heads, head_dim] with strides (token, head); slots < 0 are skipped.
void launch_store_kv(KVLayer cache, const float* k, int64_t k_token_stride, int64_t k_head_stride, const float* v,
                     int64_t v_token_stride, int64_t v_head_stride, const int32_t* slots, int64_t tokens,
                     cudaStream_t stream);

// The epilogue of a q/k/v GEMV launch (targets 0, 1, 2; activation row m is token m):
// adjacent-pair rotary embedding of every q and k row pair (a warp's two rows, GGUF's
// "llama" layout, the whole head rotated), the rotated values stored as launch_rope
// leaves them, and k and v also into their cache slots as launch_store_kv does. It saves
// decode the rope + store launch of each layer.
struct GemvRope {
  const int32_t* positions = nullptr;  // [m]
  const int32_t* slots = nullptr;      // [m]; < 0 or past the cache: not stored
  const double* inv_freq = nullptr;    // [head_dim / 2]
  KVLayer cache;
};

// Heads of one token row: [T, heads, head_dim] f32 with dense head rows.
struct HeadsF32 {
  float* data = nullptr;
  int64_t token_stride = 0, head_stride = 0;
  int heads = 0;
};

// Rope on q and k in place (as launch_rope), then k and v into the cache (as
// launch_store_kv), one kernel; half = rotary_dim / 2 <= kMaxRopePairs.
constexpr int kMaxRopePairs = 256;
struct RopeStoreKVArgs {
  HeadsF32 q, k;
  const float* v = nullptr;  // [T, kv_heads, head_dim], k's heads
  int64_t v_token_stride = 0, v_head_stride = 0;
  KVLayer cache;
  const int32_t* positions = nullptr;
  const int32_t* slots = nullptr;
  const double* inv_freq = nullptr;
  int half = 0;
  bool neox = true;
};
void launch_rope_store_kv(const RopeStoreKVArgs& args, int64_t tokens, cudaStream_t stream);

// One unit of attention work: `count` consecutive query tokens of one sequence.
struct AttentionItem {
  int32_t seq;
  int32_t first_token;
  int32_t count;
  int32_t max_position;  // the last of those tokens' positions
};

// A weight a decode attention kernel asks L2 for while it runs (AttentionArgs::prefetch,
// Backend::prefetch_weights): the first `lead_bytes` of each of `rows` rows of `row_bytes`
// from `base` (16-byte aligned; lead_bytes a multiple of 16; none while rows is 0), the part
// of every row that the next product's warps read first.
struct WeightPrefetch {
  const uint8_t* base = nullptr;
  int64_t rows = 0;
  int64_t row_bytes = 0;
  int32_t lead_bytes = 0;
};
// The leading bytes of each row that a prefetch of `rows` rows of `row_bytes` asks for
// within `budget` bytes: whole 512-byte pieces, at most 3/8 of a row (0: none).
int64_t prefetch_lead_bytes(int64_t row_bytes, int64_t rows, int64_t budget);

struct AttentionArgs {
  float* out = nullptr;  // [T, Hq * D]
  int64_t out_stride = 0;
  const float* q = nullptr;  // [T, Hq, D]
  int64_t q_token_stride = 0, q_head_stride = 0;
  KVLayer cache;
  int num_heads = 0;
  const int32_t* positions = nullptr;     // [T]
  const int32_t* block_tables = nullptr;  // [S, max_blocks]
  int max_blocks = 0;
  const AttentionItem* items = nullptr;
  int num_items = 0;
  int tokens_per_item = 1;
  int num_tokens = 0;
  int max_keys = 0;  // the longest context any item attends to
  float scale = 1.f;
  // Split-KV partials: [splits, T, Hq, D] accumulators and [splits, T, Hq, 2] (max, sum).
  int splits = 1;
  float* partial_acc = nullptr;
  float* partial_stats = nullptr;
  // Splits only: [items, head groups] tickets, zero between launches (each resets its own).
  int* split_counters = nullptr;
  // Decode batches (one query token a sequence) only: the first tile's cache rows of
  // positions before the token's own were written by earlier steps, and the items,
  // positions and block tables are the step's inputs, so the kernel reads them before
  // waiting for the previous kernel (which wrote q and the token's own key and value).
  // On unless STRATA_CUDA_ATTENTION_EARLY_KV=0 (session 16: 1.5-7% faster batch-1 decode).
  bool early_kv = false;
  // Decode with key splits (few sequences, the tensor-core kernel): the next product's
  // weights, asked of L2 once the kernel's own first reads are out, while DRAM would idle
  // between the step program before attention and the one after it (cuda_weight_prefetch.cpp).
  WeightPrefetch prefetch;
};

// Query heads of one KV head handled together by a thread block; head_dim <= 256.
void launch_attention(const AttentionArgs& args, cudaStream_t stream);
// How many query heads of a GQA group one attention block takes (the host sizes items by it).
int attention_heads_per_block(int group);

// Prefill on the tensor cores (flash_attention.cu): items of kFlashQueryTokens tokens, one
// query head a block, f16 operands (Q rounded after scaling, P before multiplying V) with
// f32 accumulation. For an f16 cache with head_dim 64 or 128.
constexpr int kFlashQueryTokens = 64;
constexpr int kFlashMinQueryLen = 32;  // batches with a shorter longest query stay on the SIMT kernel
bool flash_attention_supports(const KVLayer& cache);
void launch_flash_attention(const AttentionArgs& args, cudaStream_t stream);

// Decode on the tensor cores (decode_attention.cu): items of one token, a block per
// (sequence, KV head, key split) with the group's query heads as the mma rows; f16
// operands as the prefill kernel's. f16 cache, head_dim 64 or 128, groups up to 16.
bool decode_attention_supports(const KVLayer& cache, int num_heads);
void launch_decode_attention(const AttentionArgs& args, cudaStream_t stream);

}  // namespace strata::cuda
