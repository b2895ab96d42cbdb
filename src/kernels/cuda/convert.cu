// Conversions around the tensor-core GEMM: f32 activations to bf16/f16 (plain, or
// RMS-normalized on the way), and weights of any device dtype to bf16 a slab of rows at a
// time.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/quant_device.cuh"

namespace strata::cuda {

namespace {

__device__ inline void store(__half* out, float v) { *out = __float2half_rn(v); }
__device__ inline void store(__nv_bfloat16* out, float v) { *out = __float2bfloat16_rn(v); }

// Grid rows stride over the rows, threads over the columns (no division per element).
template <typename Out>
__global__ void convert_rows_kernel(const float* x, int64_t x_stride, int64_t rows, int64_t cols, Out* out) {
  wait_for_previous_kernel();
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t c = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; c < cols; c += int64_t{gridDim.x} * blockDim.x)
      store(out + r * cols + c, x[r * x_stride + c]);
}

constexpr int kNormThreads = 256;

// One block per row, the floats of rms_norm_kernel rounded once: what rms_norm then
// convert_rows give, in one pass and without the f32 copy.
template <typename Out>
__global__ void rms_norm_rows_kernel(const float* x, int64_t x_stride, int64_t cols, const float* __restrict__ weight,
                                     float eps, Out* out) {
  wait_for_previous_kernel();
  const float* src = x + int64_t{blockIdx.x} * x_stride;
  const float inv_rms = block_inv_rms<kNormThreads>(src, cols, eps);
  Out* dst = out + int64_t{blockIdx.x} * cols;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) store(dst + i, src[i] * inv_rms * weight[i]);
}

dim3 rows_grid(int64_t rows, int64_t cols) {
  const int64_t across = (cols + 255) / 256;
  return dim3(static_cast<unsigned>(across < 64 ? across : 64), static_cast<unsigned>(rows < 65535 ? rows : 65535));
}

__global__ void dequantize_rows_kernel(WeightRef w, int64_t first_row, int64_t rows, __nv_bfloat16* out) {
  wait_for_previous_kernel();
  const PackedBlocks p = packed_blocks(w);
  const int64_t n = rows * w.cols;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = __float2bfloat16_rn(weight_element(w, p, first_row + i / w.cols, i % w.cols));
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65536 ? blocks : 65536);
}

}  // namespace

void launch_convert_rows(const float* x, int64_t x_stride, int64_t rows, int64_t cols, void* out, DType out_type,
                         cudaStream_t stream) {
  if (rows * cols == 0) return;
  if (out_type == DType::F16)
    launch_kernel(convert_rows_kernel<__half>, rows_grid(rows, cols), 256, 0, stream, x, x_stride, rows, cols,
                  static_cast<__half*>(out));
  else if (out_type == DType::BF16)
    launch_kernel(convert_rows_kernel<__nv_bfloat16>, rows_grid(rows, cols), 256, 0, stream, x, x_stride, rows, cols,
                  static_cast<__nv_bfloat16*>(out));
  else
    throw Error("convert_rows: target must be f16 or bf16");
  check_launch("convert_rows_kernel");
}

void launch_rms_norm_rows(const float* x, int64_t x_stride, int64_t rows, int64_t cols, const float* weight, float eps,
                          void* out, DType out_type, cudaStream_t stream) {
  if (rows * cols == 0) return;
  if (rows > int64_t{1} << 31) throw Error("rms_norm_rows: too many rows");
  const unsigned grid = static_cast<unsigned>(rows);
  if (out_type == DType::F16)
    launch_kernel(rms_norm_rows_kernel<__half>, grid, kNormThreads, 0, stream, x, x_stride, cols, weight, eps,
                  static_cast<__half*>(out));
  else if (out_type == DType::BF16)
    launch_kernel(rms_norm_rows_kernel<__nv_bfloat16>, grid, kNormThreads, 0, stream, x, x_stride, cols, weight, eps,
                  static_cast<__nv_bfloat16*>(out));
  else
    throw Error("rms_norm_rows: target must be f16 or bf16");
  check_launch("rms_norm_rows_kernel");
}

void launch_dequantize_rows(WeightRef w, int64_t first_row, int64_t rows, void* out_bf16, cudaStream_t stream) {
  if (rows * w.cols == 0) return;
  launch_kernel(dequantize_rows_kernel, grid_for(rows * w.cols), 256, 0, stream, w, first_row, rows,
                static_cast<__nv_bfloat16*>(out_bf16));
  check_launch("dequantize_rows_kernel");
}

}  // namespace strata::cuda
