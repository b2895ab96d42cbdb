// f32 activation rows -> int8 blocks of 32 for the integer GEMV (gemv_q8.cu): each block
// keeps its scale d = amax / 127 and d times the sum of its quants (the term that Q4_0's
// offset and Q4_1's min multiply). Done once per matmul input (the backend reuses it for
// the products that share an input), so the GEMV reads 1 byte per activation, not 4.
#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"

namespace strata::cuda {

namespace {

// Eight threads per block of 32, four values each: the amax and sum reductions stay inside
// an aligned group of eight lanes.
__global__ void quantize_rows_kernel(const float* x, int64_t x_stride, int64_t rows, int64_t cols, int8_t* quants,
                                     float2* scales) {
  wait_for_previous_kernel();
  const int64_t quads_per_row = cols / 4;
  const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  const bool active = i < rows * quads_per_row;
  const int64_t row = active ? i / quads_per_row : 0, quad = active ? i % quads_per_row : 0;
  const float4 v = active ? *reinterpret_cast<const float4*>(x + row * x_stride + quad * 4) : float4{0, 0, 0, 0};
  float amax = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
#pragma unroll
  for (int offset = 1; offset < 8; offset <<= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
  // Division (not a reciprocal estimate): the tests redo this rounding on the host.
  const float d = amax / 127.f;
  const float inv = d != 0.f ? 1.f / d : 0.f;
  const int q0 = __float2int_rn(v.x * inv), q1 = __float2int_rn(v.y * inv), q2 = __float2int_rn(v.z * inv),
            q3 = __float2int_rn(v.w * inv);
  int sum = q0 + q1 + q2 + q3;
#pragma unroll
  for (int offset = 1; offset < 8; offset <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (!active) return;
  const uint32_t packed = (uint32_t(q0) & 0xffu) | (uint32_t(q1) & 0xffu) << 8 | (uint32_t(q2) & 0xffu) << 16 |
                          (uint32_t(q3) & 0xffu) << 24;
  reinterpret_cast<uint32_t*>(quants + row * cols)[quad] = packed;
  if (quad % 8 == 0) scales[row * (cols / 32) + quad / 8] = make_float2(d, d * static_cast<float>(sum));
}

}  // namespace

QuantizedRows quantized_rows_view(void* buffer, int64_t rows, int64_t cols) {
  auto* base = static_cast<int8_t*>(buffer);
  const int64_t quant_bytes = (rows * cols + 15) / 16 * 16;
  return {base, reinterpret_cast<float2*>(base + quant_bytes), rows, cols};
}

size_t quantized_rows_bytes(int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows * cols + 15) / 16 * 16 + rows * (cols / 32) * static_cast<int64_t>(sizeof(float2)));
}

void launch_quantize_rows(const float* x, int64_t x_stride, QuantizedRows out, cudaStream_t stream) {
  if (out.cols % 32 != 0 || x_stride % 4 != 0 || reinterpret_cast<uintptr_t>(x) % 16 != 0)
    throw Error("quantize_rows: needs rows of a multiple of 32 values, 16-byte aligned");
  const int64_t threads = out.rows * out.cols / 4;
  if (threads == 0) return;
  constexpr int kThreads = 256;
  launch_kernel(quantize_rows_kernel, blocks_for(threads, kThreads), kThreads, 0, stream, x, x_stride, out.rows, out.cols,
                                                                                out.quants, out.scales);
  check_launch("quantize_rows kernel");
}

}  // namespace strata::cuda
