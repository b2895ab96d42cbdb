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

// Four consecutive outputs in one 8-byte store.
__device__ inline void store4(__half* out, float4 v) {
  const __half2 lo = __floats2half2_rn(v.x, v.y), hi = __floats2half2_rn(v.z, v.w);
  *reinterpret_cast<uint2*>(out) = make_uint2(*reinterpret_cast<const uint32_t*>(&lo), *reinterpret_cast<const uint32_t*>(&hi));
}
__device__ inline void store4(__nv_bfloat16* out, float4 v) {
  const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
  *reinterpret_cast<uint2*>(out) = make_uint2(*reinterpret_cast<const uint32_t*>(&lo), *reinterpret_cast<const uint32_t*>(&hi));
}

// rms_norm_rows_kernel for rows of at most kNormThreads * 4 * Vecs floats in 16-byte
// vectors: a thread holds its Vecs vectors in registers, so the row is read once (the
// plain kernel reads it twice, a float at a time; a decode batch's norm was latency-bound).
template <typename Out, int Vecs>
__global__ void rms_norm_rows_vec_kernel(const float* x, int64_t x_stride, int64_t cols,
                                         const float* __restrict__ weight, float eps, Out* out) {
  wait_for_previous_kernel();
  const float4* src = reinterpret_cast<const float4*>(x + int64_t{blockIdx.x} * x_stride);
  const float4* w4 = reinterpret_cast<const float4*>(weight);
  const int vecs = static_cast<int>(cols / 4);
  float4 v[Vecs];
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < Vecs; ++i) {
    const int c = threadIdx.x + i * kNormThreads;
    v[i] = c < vecs ? src[c] : make_float4(0.f, 0.f, 0.f, 0.f);
    sum += v[i].x * v[i].x + v[i].y * v[i].y + v[i].z * v[i].z + v[i].w * v[i].w;
  }
  const float inv_rms = inv_rms_of_sums<kNormThreads>(sum, cols, eps);
  Out* dst = out + int64_t{blockIdx.x} * cols;
#pragma unroll
  for (int i = 0; i < Vecs; ++i) {
    const int c = threadIdx.x + i * kNormThreads;
    if (c >= vecs) continue;
    const float4 w = w4[c];
    store4(dst + 4 * c, make_float4(v[i].x * inv_rms * w.x, v[i].y * inv_rms * w.y, v[i].z * inv_rms * w.z,
                                    v[i].w * inv_rms * w.w));
  }
}

// out[r, c] = silu(gate[r, c]) * up[r, c] rounded once (silu_times, the f32 kernels'
// formula): the down product's input straight from the gate and up products.
template <typename Out>
__global__ void swiglu_rows_kernel(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                                   int64_t rows, int64_t cols, Out* out) {
  wait_for_previous_kernel();
  const bool vector = cols % 4 == 0 && gate_stride % 4 == 0 && up_stride % 4 == 0 &&
                      reinterpret_cast<uintptr_t>(gate) % 16 == 0 && reinterpret_cast<uintptr_t>(up) % 16 == 0;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const float* g = gate + r * gate_stride;
    const float* u = up + r * up_stride;
    Out* dst = out + r * cols;
    if (vector) {
      for (int64_t c = 4 * (int64_t{blockIdx.x} * blockDim.x + threadIdx.x); c < cols;
           c += 4 * int64_t{gridDim.x} * blockDim.x) {
        const float4 a = *reinterpret_cast<const float4*>(g + c), b = *reinterpret_cast<const float4*>(u + c);
        store4(dst + c, make_float4(silu_times(a.x, b.x), silu_times(a.y, b.y), silu_times(a.z, b.z),
                                    silu_times(a.w, b.w)));
      }
    } else {
      for (int64_t c = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; c < cols; c += int64_t{gridDim.x} * blockDim.x)
        store(dst + c, silu_times(g[c], u[c]));
    }
  }
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

namespace {

template <typename Out>
bool launch_rms_norm_rows_vec(const float* x, int64_t x_stride, int64_t rows, int64_t cols, const float* weight,
                              float eps, Out* out, cudaStream_t stream) {
  const bool aligned = cols % 4 == 0 && x_stride % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(weight) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 8 == 0;
  const int64_t per_thread = (cols / 4 + kNormThreads - 1) / kNormThreads;
  if (!aligned || per_thread > 8) return false;
  const unsigned grid = static_cast<unsigned>(rows);
  const auto launch = [&](auto kernel) { launch_kernel(kernel, grid, kNormThreads, 0, stream, x, x_stride, cols, weight, eps, out); };
  if (per_thread <= 1) launch(rms_norm_rows_vec_kernel<Out, 1>);
  else if (per_thread <= 2) launch(rms_norm_rows_vec_kernel<Out, 2>);
  else if (per_thread <= 4) launch(rms_norm_rows_vec_kernel<Out, 4>);
  else launch(rms_norm_rows_vec_kernel<Out, 8>);
  check_launch("rms_norm_rows_vec_kernel");
  return true;
}

}  // namespace

void launch_rms_norm_rows(const float* x, int64_t x_stride, int64_t rows, int64_t cols, const float* weight, float eps,
                          void* out, DType out_type, bool vectorized, cudaStream_t stream) {
  if (rows * cols == 0) return;
  if (rows > int64_t{1} << 31) throw Error("rms_norm_rows: too many rows");
  if (vectorized && out_type == DType::F16 &&
      launch_rms_norm_rows_vec(x, x_stride, rows, cols, weight, eps, static_cast<__half*>(out), stream))
    return;
  if (vectorized && out_type == DType::BF16 &&
      launch_rms_norm_rows_vec(x, x_stride, rows, cols, weight, eps, static_cast<__nv_bfloat16*>(out), stream))
    return;
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

void launch_swiglu_rows(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride, int64_t rows,
                        int64_t cols, void* out, DType out_type, cudaStream_t stream) {
  if (rows * cols == 0) return;
  const dim3 grid = rows_grid(rows, (cols + 3) / 4);
  if (out_type == DType::F16)
    launch_kernel(swiglu_rows_kernel<__half>, grid, 256, 0, stream, gate, gate_stride, up, up_stride, rows, cols,
                  static_cast<__half*>(out));
  else if (out_type == DType::BF16)
    launch_kernel(swiglu_rows_kernel<__nv_bfloat16>, grid, 256, 0, stream, gate, gate_stride, up, up_stride, rows,
                  cols, static_cast<__nv_bfloat16*>(out));
  else
    throw Error("swiglu_rows: target must be f16 or bf16");
  check_launch("swiglu_rows_kernel");
}

void launch_dequantize_rows(WeightRef w, int64_t first_row, int64_t rows, void* out_bf16, cudaStream_t stream) {
  if (rows * w.cols == 0) return;
  launch_kernel(dequantize_rows_kernel, grid_for(rows * w.cols), 256, 0, stream, w, first_row, rows,
                static_cast<__nv_bfloat16*>(out_bf16));
  check_launch("dequantize_rows_kernel");
}

}  // namespace strata::cuda
