// Greedy sampling on the device: one block per logits row finds the largest value's index
// (the lowest among ties, as the CPU's argmax), so a decode step brings back one id per
// sequence instead of a row of vocabulary logits.
#include <cmath>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/argmax_device.cuh"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"

namespace strata::cuda {

namespace {

constexpr int kThreads = 1024;

__global__ void argmax_rows_kernel(int32_t* ids, const float* logits, int64_t stride, int64_t width) {
  wait_for_previous_kernel();
  __shared__ Best per_warp[kThreads / 32];
  const int32_t best = block_argmax<kThreads>(logits + blockIdx.x * stride, width, per_warp);
  if (threadIdx.x == 0) ids[blockIdx.x] = best;
}

}  // namespace

void launch_argmax_rows(int32_t* ids, const float* logits, int64_t stride, int64_t rows, int64_t width,
                        cudaStream_t stream) {
  if (rows == 0) return;
  launch_kernel(argmax_rows_kernel, static_cast<unsigned>(rows), kThreads, 0, stream, ids, logits, stride, width);
  check_launch("argmax_rows_kernel");
}

}  // namespace strata::cuda
