// Row-wise f32 kernels: RMSNorm, SwiGLU, add, bias, gather. Memory-bound: one pass each.
#include <cmath>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"

namespace strata::cuda {

namespace {

constexpr int kNormThreads = 256;

// One block per row: sum of squares in f32 (eight-way per thread, then the tree), then the
// scaled row. y may alias x: every element is read before the barrier and written after.
__global__ void rms_norm_kernel(RowsF32 y, RowsF32 x, const float* __restrict__ weight, float eps) {
  wait_for_previous_kernel();
  const int64_t row = blockIdx.x;
  const float* src = row_ptr(x, row);
  float* dst = row_ptr(y, row);
  const float inv_rms = block_inv_rms<kNormThreads>(src, x.width, eps);
  for (int64_t i = threadIdx.x; i < x.width; i += blockDim.x) dst[i] = src[i] * inv_rms * weight[i];
}

__global__ void silu_mul_kernel(RowsF32 y, RowsF32 gate, RowsF32 up) {
  wait_for_previous_kernel();
  const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= y.width) return;
  for (int64_t row = blockIdx.y; row < y.count; row += gridDim.y) {
    row_ptr(y, row)[i] = silu_times(row_ptr(gate, row)[i], row_ptr(up, row)[i]);
  }
}

__global__ void add_kernel(RowsF32 y, RowsF32 a, RowsF32 b) {
  wait_for_previous_kernel();
  const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= y.width) return;
  for (int64_t row = blockIdx.y; row < y.count; row += gridDim.y)
    row_ptr(y, row)[i] = row_ptr(a, row)[i] + row_ptr(b, row)[i];
}

__global__ void add_bias_kernel(RowsF32 y, const float* __restrict__ bias) {
  wait_for_previous_kernel();
  const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= y.width) return;
  for (int64_t row = blockIdx.y; row < y.count; row += gridDim.y) row_ptr(y, row)[i] += bias[i];
}

__global__ void gather_rows_kernel(float* y, int64_t y_stride, const float* x, int64_t x_stride, int64_t x_rows,
                                   const int32_t* rows, int64_t count, int64_t width) {
  wait_for_previous_kernel();
  const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= width) return;
  for (int64_t l = blockIdx.y; l < count; l += gridDim.y) {
    const int32_t r = rows[l];
    y[l * y_stride + i] = (r >= 0 && r < x_rows) ? x[r * x_stride + i] : __int_as_float(0x7fc00000);
  }
}

// Elementwise kernels: 256 threads over the row; grid rows stride over the tensor rows
// (a grid's y extent stops at 65535, fewer than the rows of a long prefill's heads).
dim3 row_grid(int64_t width, int64_t count) {
  return dim3(blocks_for(width, 256), static_cast<unsigned>(count < 65535 ? count : 65535));
}

}  // namespace

void launch_rms_norm(RowsF32 y, RowsF32 x, const float* weight, float eps, cudaStream_t stream) {
  if (x.count == 0) return;
  launch_kernel(rms_norm_kernel, static_cast<unsigned>(x.count), kNormThreads, 0, stream, y, x, weight, eps);
  check_launch("rms_norm_kernel");
}

void launch_silu_mul(RowsF32 y, RowsF32 gate, RowsF32 up, cudaStream_t stream) {
  if (y.count == 0) return;
  launch_kernel(silu_mul_kernel, row_grid(y.width, y.count), 256, 0, stream, y, gate, up);
  check_launch("silu_mul_kernel");
}

void launch_add(RowsF32 y, RowsF32 a, RowsF32 b, cudaStream_t stream) {
  if (y.count == 0) return;
  launch_kernel(add_kernel, row_grid(y.width, y.count), 256, 0, stream, y, a, b);
  check_launch("add_kernel");
}

void launch_add_bias(RowsF32 y, const float* bias, cudaStream_t stream) {
  if (y.count == 0) return;
  launch_kernel(add_bias_kernel, row_grid(y.width, y.count), 256, 0, stream, y, bias);
  check_launch("add_bias_kernel");
}

void launch_gather_rows(float* y, int64_t y_stride, const float* x, int64_t x_stride, int64_t x_rows,
                        const int32_t* rows, int64_t count, int64_t width, cudaStream_t stream) {
  if (count == 0) return;
  launch_kernel(gather_rows_kernel, row_grid(width, count), 256, 0, stream, y, y_stride, x, x_stride, x_rows, rows, count, width);
  check_launch("gather_rows_kernel");
}

}  // namespace strata::cuda
