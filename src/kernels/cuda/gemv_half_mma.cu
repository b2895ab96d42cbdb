// Batch-1 products of Q4_0 weights on the tensor cores, reading f32 activations directly
// (CudaBackendOptions::QuantizedActivations::F16, STRATA_CUDA_GEMV=f16): no quantization
// kernel before each product, which the int16 path needs (four a layer).
//
// A block takes 16 weight rows (a SwiGLU block: 8 gate rows and the same 8 up rows) and
// its 8 warps a slice of the columns each. A chunk is 128 columns: lane (r, c) of the mma
// layout (r = lane / 4, c = lane % 4) loads the 16 bytes of group 4t + c of rows r and
// r + 8, so a quad's four 16-byte loads are 64 consecutive bytes of a row. The quants are
// decoded exactly (1024 + q as an f16 bit pattern, minus 1032), and each of the chunk's 8
// mma.m16n8k16 takes from every lane 4 of its group's 32 values: the k dimension of one
// mma covers the four groups of the chunk, one per c. The activation operand (B) of
// column n holds the x values of group n only (lane n * 4 + c takes them when c == n,
// zeros otherwise), so column n of the accumulator is the dot product of group n alone and
// each group's f16 scale multiplies it afterwards in f32.
//
// Activations: each warp stages its slice of x (times the norm's weight, when one is
// folded) as f16 in shared memory, in the order the B fragments read it, each group scaled
// by a power of two that puts its largest value near 2^14 (no f16 overflow or underflow
// whatever the activations' size; undone in f32 with the weight scale). The products'
// only rounding besides f32 sums is x to f16 (2^-11 relative).
// tools/check_half_mma_layout.py checks this operand layout against the PTX fragment
// layouts on the CPU. Opt-in until measured on a GPU (written in session 22 without one).
#include <cuda_fp16.h>

#include "kernels/cuda/gemv_kernels.cuh"
#include "kernels/cuda/mma_util.cuh"

namespace strata::cuda::gemv_detail {

namespace {

constexpr int kMmaWarps = 8;
constexpr int kTileRows = 16;
constexpr int kChunkCols = 128;
constexpr int kGroupsPerChunk = 4;
// Chunks of both rows a lane loads in one round: 8B rows of 4,096 columns in one.
constexpr int kChunksInFlight = 4;
// Rows up to this long: the staged copy (f16 values and a float a group) then fits the 48 KB
// of shared memory a launch gets without opting in to more.
constexpr int64_t kMaxCols = 16384;
constexpr size_t staged_bytes(int64_t cols) {
  return static_cast<size_t>(cols) * sizeof(__half) + static_cast<size_t>(cols / 32) * sizeof(float);
}
static_assert(staged_bytes(kMaxCols) <= 48 * 1024);

struct ChunkRange {
  int first, end;
};

// Warp w's chunks: the columns split as evenly as whole chunks allow.
__device__ __forceinline__ ChunkRange warp_chunks(int chunks, int warp) {
  const int base = chunks / kMmaWarps, extra = chunks % kMmaWarps;
  const int first = warp * base + min(warp, extra);
  return {first, first + base + (warp < extra ? 1 : 0)};
}

// 2^k with k chosen so that amax * 2^k lies in [2^14, 2^15): f16 keeps 11 bits of every
// value near amax and overflows nowhere. amax 0 (or subnormal): 1.
__device__ __forceinline__ float group_scale(float amax) {
  const int e = (__float_as_int(amax) >> 23) & 0xff;
  if (e == 0) return 1.f;
  const int k = min(max(268 - e, 1), 254);  // exponent field of 2^(14 - (e - 127))
  return __int_as_float(k << 23);
}

// Two of a word's nibbles as half2 (q - 8): those at bits [s, s + 4) and [s + 16, s + 20).
__device__ __forceinline__ uint32_t nibble_pair(uint32_t word, int shift) {
  const uint32_t biased = ((word >> shift) & 0x000f000fu) | 0x64006400u;  // 1024 + q, exact
  const __half2 h = __hsub2(*reinterpret_cast<const __half2*>(&biased), __half2half2(__ushort_as_half(0x6408)));
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Where value e (0..31) of a group sits in its staged copy: the B fragment order (the
// value pairs that one nibble_pair() decodes side by side).
__device__ __forceinline__ int staged_position(int e) {
  const int s = e / 16, j = (e % 16) / 4, u = e % 4;
  return 8 * j + 4 * s + 2 * (u % 2) + u / 2;
}

template <bool Normed>
__device__ __forceinline__ void stage_activations(const GemvBatch& b, ChunkRange range, __half* staged,
                                                  float* inv_scale, float& squares) {
  const int lane = threadIdx.x % 32;
  const float4* x = reinterpret_cast<const float4*>(b.x);
  const float4* g = reinterpret_cast<const float4*>(b.norm.weight);
  for (int t0 = range.first; t0 < range.end; t0 += 4) {
    float4 v[4];
#pragma unroll
    for (int u = 0; u < 4; ++u)
      if (t0 + u < range.end) v[u] = __ldg(x + (t0 + u) * 32 + lane);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      if (t0 + u >= range.end) break;
      const int t = t0 + u;
      float4 xv = v[u];
      if constexpr (Normed) {
        squares += xv.x * xv.x + xv.y * xv.y + xv.z * xv.z + xv.w * xv.w;
        xv = times(xv, __ldg(g + t * 32 + lane));
      }
      // The 8 lanes of a group agree on its scale.
      float amax = fmaxf(fmaxf(fabsf(xv.x), fabsf(xv.y)), fmaxf(fabsf(xv.z), fabsf(xv.w)));
#pragma unroll
      for (int offset = 1; offset < 8; offset <<= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
      const float scale = group_scale(amax);
      const int group = t * kGroupsPerChunk + lane / 8;
      const int e = 4 * (lane % 8);  // values e..e+3 of the group: one staged run of four
      __half2* out = reinterpret_cast<__half2*>(staged + group * 32 + staged_position(e));
      out[0] = __floats2half2_rn(xv.x * scale, xv.z * scale);
      out[1] = __floats2half2_rn(xv.y * scale, xv.w * scale);
      if (lane % 8 == 0) inv_scale[group] = 1.f / scale;
    }
  }
}

// Rows r and r + 8 of the block's 16: the weight and row each of them reads.
struct TileRows {
  const uint8_t* quants[2];
  const __half* scales[2];
};

template <bool Normed>
__global__ void __launch_bounds__(kMmaWarps * 32, 2) gemv_half_mma_kernel(GemvBatch batch) {
  extern __shared__ float4 dynamic_shared[];
  __shared__ float parts[kMmaWarps][kTileRows];
  __shared__ float warp_squares[kMmaWarps];
  int64_t block;
  const GemvArgs a = resolve(batch, block);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r = lane / 4, c = lane % 4;
  const int64_t cols = a.w.cols, blocks = cols / 32;
  const int chunks = static_cast<int>(cols / kChunkCols);
  // Output rows: n0.. of the target (a SwiGLU block: gate and up rows n0..n0 + 7).
  const int64_t n0 = block * (batch.swiglu ? kTileRows / 2 : kTileRows);
  TileRows rows;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const WeightRef& w = batch.swiglu && h == 1 ? batch.up : a.w;
    const int64_t row = clamp_row(batch.swiglu ? n0 + r : n0 + r + 8 * h, w.rows);
    const PackedBlocks p = packed_blocks(w);
    rows.quants[h] = p.quants + row * blocks * 16;
    rows.scales[h] = p.scales + row * blocks;
  }
  const ChunkRange range = warp_chunks(chunks, warp);
  // The quants of kChunksInFlight chunks of both rows, and their two groups' scales that
  // this lane applies (groups 2 * (c % 2) and + 1 of the chunk: accumulator columns).
  uint4 quants[kChunksInFlight][2];
  __half2 scales[kChunksInFlight][2];
  const auto load_round = [&](int t0) {
#pragma unroll
    for (int u = 0; u < kChunksInFlight; ++u) {
      const int t = t0 + u;
      if (t >= range.end) break;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        quants[u][h] = load_streaming(rows.quants[h] + (int64_t{t} * kGroupsPerChunk + c) * 16);
        scales[u][h] = *reinterpret_cast<const __half2*>(rows.scales[h] + t * kGroupsPerChunk + 2 * (c % 2));
      }
    }
  };
  first_loads_then_wait(batch, range.first < range.end, [&] { load_round(range.first); });
  __half* staged = reinterpret_cast<__half*>(dynamic_shared);
  float* inv_scale = reinterpret_cast<float*>(staged + cols);
  float squares = 0.f;
  stage_activations<Normed>(batch, range, staged, inv_scale, squares);
  __syncwarp();  // each warp reads only its own staged slice
  float sum[2] = {0.f, 0.f};  // rows r and r + 8, this lane's two groups of each chunk
  for (int t0 = range.first; t0 < range.end; t0 += kChunksInFlight) {
    if (t0 != range.first) load_round(t0);
#pragma unroll
    for (int u = 0; u < kChunksInFlight; ++u) {
      const int t = t0 + u;
      if (t >= range.end) break;
      // B: the lanes of column c == r take group c's staged values, the rest zeros.
      const uint4* xb = reinterpret_cast<const uint4*>(staged + (t * kGroupsPerChunk + c) * 32);
      float d[4] = {0.f, 0.f, 0.f, 0.f};
      const uint32_t* w0 = reinterpret_cast<const uint32_t*>(&quants[u][0]);
      const uint32_t* w1 = reinterpret_cast<const uint32_t*>(&quants[u][1]);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint4 bx = r == c ? xb[j] : make_uint4(0, 0, 0, 0);
        // Word j's low nibbles, then its high ones: values (j, s) of the staged order.
        const uint32_t lo[4] = {nibble_pair(w0[j], 0), nibble_pair(w1[j], 0), nibble_pair(w0[j], 8),
                                nibble_pair(w1[j], 8)};
        mma_16816(d, lo, bx.x, bx.y);
        const uint32_t hi[4] = {nibble_pair(w0[j], 4), nibble_pair(w1[j], 4), nibble_pair(w0[j], 12),
                                nibble_pair(w1[j], 12)};
        mma_16816(d, hi, bx.z, bx.w);
      }
      // Columns 2 (c % 2) and + 1 are groups of this chunk (lanes c >= 2 hold zero columns).
      const float2 undo = *reinterpret_cast<const float2*>(inv_scale + t * kGroupsPerChunk + 2 * (c % 2));
      const float2 s0 = __half22float2(scales[u][0]), s1 = __half22float2(scales[u][1]);
      sum[0] += s0.x * undo.x * d[0] + s0.y * undo.y * d[1];
      sum[1] += s1.x * undo.x * d[2] + s1.y * undo.y * d[3];
    }
  }
  sum[0] = quad_sum(sum[0]);
  sum[1] = quad_sum(sum[1]);
  if (c == 0) parts[warp][r] = sum[0], parts[warp][r + 8] = sum[1];
  if constexpr (Normed) {
    squares = warp_sum(squares);
    if (lane == 0) warp_squares[warp] = squares;
  }
  __syncthreads();
  if (warp != 0) return;
  // Warp 0 adds the slices in order: lane i (and i + 16) holds row i of the block.
  const int i = lane % kTileRows;
  float s = parts[0][i];
  for (int w = 1; w < kMmaWarps; ++w) s += parts[w][i];
  if constexpr (Normed) {
    float total = warp_squares[0];
    for (int w = 1; w < kMmaWarps; ++w) total += warp_squares[w];
    s *= rsqrtf(total / static_cast<float>(cols) + batch.norm.eps);
  }
  const float next = __shfl_down_sync(0xffffffffu, s, 1), up = __shfl_down_sync(0xffffffffu, s, 8);
  if (lane >= kTileRows) return;
  if (batch.swiglu) {
    if (lane < 8 && n0 + lane < a.w.rows) a.y[n0 + lane] = silu_times(s, up);
    return;
  }
  if (batch.rope.positions) {
    if (lane % 2 != 0 || n0 + lane >= a.w.rows) return;
    const int64_t n = n0 + lane;
    const RopeAngle angle = a.target < 2 ? rope_angle(batch.rope.positions[0],
                                                      batch.rope.inv_freq[(n % batch.rope.cache.head_dim) / 2])
                                         : RopeAngle{1.f, 0.f};
    store_attention_inputs(batch.rope, a, n, 0, s, next, angle);
    return;
  }
  if (n0 + lane < a.w.rows) {
    float& out = a.y[n0 + lane];
    out = a.accumulate ? out + s : s;
  }
}

}  // namespace

void launch_gemv_half_mma(GemvBatch b, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(lay_out_blocks(b, b.swiglu ? kTileRows / 2 : kTileRows)));
  const size_t shared = staged_bytes(b.targets[0].w.cols);
  if (b.norm.weight) launch_kernel(gemv_half_mma_kernel<true>, grid, kMmaWarps * 32, shared, stream, b);
  else launch_kernel(gemv_half_mma_kernel<false>, grid, kMmaWarps * 32, shared, stream, b);
}

}  // namespace strata::cuda::gemv_detail

namespace strata::cuda {

bool gemv_half_mma_takes(DType weights, int64_t m, int64_t cols) {
  return weights == DType::Q4_0 && m == 1 && cols % gemv_detail::kChunkCols == 0 && cols <= gemv_detail::kMaxCols;
}

}  // namespace strata::cuda
