// Small-batch products of block-quantized weights (Q8_0, Q4_0, Q4_1) with activations
// quantized to int8 blocks of 32 (quantize_activations.cu): a block's dot product is 8
// dp4a instructions on the packed quants, scaled once by the two block scales. Against the
// f32 path (gemv.cu) this reads 1 byte per activation instead of 4 and does no nibble-to-
// float decoding, which bound that path at a quarter of the memory bandwidth.
//
// Layout of the work: a warp owns kRowsPerWarp weight rows; lane j takes blocks j, j + 32,
// ... of each, so one 16-byte load per lane and row covers a Q4 block (two for Q8) and the
// warp's loads are coalesced; each activation block loaded serves all the warp's rows.
#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/quant_device.cuh"
#include "kernels/cuda/block_dot.cuh"
#include "kernels/cuda/blocks_in_flight.cuh"

namespace strata::cuda {

namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kRowsPerWarp = 4;

struct GemvQ8Args {
  float* y;
  int64_t y_stride;
  const int8_t* xq;
  const float2* xs;
  int m;
  WeightRef w;
};

template <int MaxM, DType Type>
__global__ void __launch_bounds__(kWarpsPerBlock * 32) gemv_q8_kernel(GemvQ8Args a) {
  // Blocks in flight per lane and row: with 4 rows, 16 independent 16-byte loads per lane
  // for Q4 (a 4096-wide Q4 row is only 4 blocks per lane).
  constexpr int kUnroll = Type == DType::Q8_0 ? 2 : 4;
  const int64_t n0 = (int64_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32) * kRowsPerWarp;
  if (n0 >= a.w.rows) return wait_for_previous_kernel();
  const int lane = threadIdx.x % 32;
  const int64_t blocks = a.w.cols / 32;
  WeightRef weights[kRowsPerWarp];
  int64_t rows[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    // A row past the end re-reads the last one; its result is never stored.
    weights[r] = a.w;
    rows[r] = n0 + r < a.w.rows ? n0 + r : a.w.rows - 1;
  }
  BlocksInFlight<Type, kUnroll, kRowsPerWarp> in(weights, rows, a.w.cols);
  const auto& raw = in.raw;
  const auto& scale = in.scale;
  const auto& min = in.min;
  // The weights were written before the previous kernel ran: their first loads go out
  // before the wait, so that they overlap its tail.
  in.load(lane);
  wait_for_previous_kernel();
  float acc[MaxM][kRowsPerWarp] = {};
  for (int64_t b0 = lane; b0 < blocks; b0 += 32 * kUnroll) {
    if (b0 != lane) in.load(b0);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t b = b0 + 32 * u;
      if (b >= blocks) break;
#pragma unroll
      for (int m = 0; m < MaxM; ++m) {
        if (m >= a.m) break;
        const int4* xv = reinterpret_cast<const int4*>(a.xq + m * a.w.cols + b * 32);
        const int4 x0 = xv[0], x1 = xv[1];
        const float2 xs = a.xs[m * blocks + b];  // (d, d * sum of quants)
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
          const float dot = static_cast<float>(block_dot<Type>(raw[u][r], x0, x1));
          if constexpr (Type == DType::Q4_0) {
            acc[m][r] += scale[u][r] * (xs.x * dot - 8.f * xs.y);  // quants are stored + 8
          } else if constexpr (Type == DType::Q4_1) {
            acc[m][r] += scale[u][r] * xs.x * dot + min[u][r] * xs.y;
          } else {
            acc[m][r] += scale[u][r] * xs.x * dot;
          }
        }
      }
    }
  }
#pragma unroll
  for (int m = 0; m < MaxM; ++m)
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const float s = warp_sum(acc[m][r]);
      if (m < a.m && n0 + r < a.w.rows && lane == 0) a.y[m * a.y_stride + n0 + r] = s;
    }
}

template <int MaxM>
void launch_for_rows(const GemvQ8Args& a, cudaStream_t stream) {
  const dim3 grid(blocks_for(a.w.rows, kWarpsPerBlock * kRowsPerWarp));
  const int threads = kWarpsPerBlock * 32;
  switch (a.w.dtype) {
    case DType::Q8_0: launch_kernel(gemv_q8_kernel<MaxM, DType::Q8_0>, grid, threads, 0, stream, a); break;
    case DType::Q4_0: launch_kernel(gemv_q8_kernel<MaxM, DType::Q4_0>, grid, threads, 0, stream, a); break;
    case DType::Q4_1: launch_kernel(gemv_q8_kernel<MaxM, DType::Q4_1>, grid, threads, 0, stream, a); break;
    default: throw Error("gemv_q8: no kernel for weight dtype " + std::string(dtype_name(a.w.dtype)));
  }
  check_launch("gemv_q8 kernel");
}

}  // namespace

bool gemv_q8_supports(DType t) { return t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_1; }

void launch_gemv_q8(float* y, int64_t y_stride, QuantizedRows x, WeightRef w, cudaStream_t stream) {
  if (x.rows <= 0 || w.rows == 0) return;
  if (x.rows > kMaxGemvRows)
    throw Error("gemv_q8: " + std::to_string(x.rows) + " rows exceed " + std::to_string(kMaxGemvRows));
  if (x.cols != w.cols || w.cols % 32 != 0) throw Error("gemv_q8: activation and weight widths differ");
  const GemvQ8Args a{y, y_stride, x.quants, x.scales, static_cast<int>(x.rows), w};
  if (x.rows == 1) launch_for_rows<1>(a, stream);
  else if (x.rows == 2) launch_for_rows<2>(a, stream);
  else if (x.rows <= 4) launch_for_rows<4>(a, stream);
  else launch_for_rows<8>(a, stream);
}

}  // namespace strata::cuda
