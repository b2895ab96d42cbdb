// Rotary embeddings in place on [T, H, head_dim]: one thread per rotated pair (the
// rotation itself in rope_device.cuh).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/rope_device.cuh"

namespace strata::cuda {

namespace {

__global__ void rope_kernel(float* x, int64_t token_stride, int64_t head_stride, int64_t tokens, int64_t heads,
                            const int32_t* positions, const double* inv_freq, int half, bool neox) {
  wait_for_previous_kernel();
  const int64_t pairs = tokens * heads * half;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < pairs; i += int64_t{gridDim.x} * blockDim.x) {
    const int pair = static_cast<int>(i % half);
    const int64_t th = i / half, t = th / heads, h = th % heads;
    float* head = x + t * token_stride + h * head_stride;
    float &a = head[rope_first(pair, half, neox)], &b = head[rope_second(pair, half, neox)];
    rotate_pair(a, b, rope_angle(positions[t], inv_freq[pair]));
  }
}

}  // namespace

void launch_rope(float* x, int64_t token_stride, int64_t head_stride, int64_t tokens, int64_t heads,
                 const int32_t* positions, const double* inv_freq, int half, bool neox, cudaStream_t stream) {
  const int64_t pairs = tokens * heads * half;
  if (pairs == 0) return;
  const int64_t blocks = (pairs + 255) / 256;
  launch_kernel(rope_kernel, static_cast<unsigned>(blocks < 65536 ? blocks : 65536), 256, 0, stream, 
      x, token_stride, head_stride, tokens, heads, positions, inv_freq, half, neox);
  check_launch("rope_kernel");
}

}  // namespace strata::cuda
