// Rotary embeddings in place on [T, H, head_dim]: one thread per rotated pair. The angle
// is position * inv_freq in double, as the CPU backend's table computes it, so that long
// positions rotate identically on both backends.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"

namespace strata::cuda {

namespace {

__global__ void rope_kernel(float* x, int64_t token_stride, int64_t head_stride, int64_t tokens, int64_t heads,
                            const int32_t* positions, const double* inv_freq, int half, bool neox) {
  const int64_t pairs = tokens * heads * half;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < pairs; i += int64_t{gridDim.x} * blockDim.x) {
    const int pair = static_cast<int>(i % half);
    const int64_t th = i / half, t = th / heads, h = th % heads;
    double s, c;
    sincos(static_cast<double>(positions[t]) * inv_freq[pair], &s, &c);
    const float cos_a = static_cast<float>(c), sin_a = static_cast<float>(s);
    float* head = x + t * token_stride + h * head_stride;
    float* a = head + (neox ? pair : 2 * pair);
    float* b = a + (neox ? half : 1);
    const float x0 = *a, x1 = *b;
    *a = x0 * cos_a - x1 * sin_a;
    *b = x1 * cos_a + x0 * sin_a;
  }
}

}  // namespace

void launch_rope(float* x, int64_t token_stride, int64_t head_stride, int64_t tokens, int64_t heads,
                 const int32_t* positions, const double* inv_freq, int half, bool neox, cudaStream_t stream) {
  const int64_t pairs = tokens * heads * half;
  if (pairs == 0) return;
  const int64_t blocks = (pairs + 255) / 256;
  rope_kernel<<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), 256, 0, stream>>>(
      x, token_stride, head_stride, tokens, heads, positions, inv_freq, half, neox);
  check_launch("rope_kernel");
}

}  // namespace strata::cuda
