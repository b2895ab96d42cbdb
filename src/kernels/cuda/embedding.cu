// Token embedding: one block per token gathers its table row, dequantized to f32.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/quant_device.cuh"

namespace strata::cuda {

namespace {

__global__ void embedding_kernel(float* y, int64_t y_stride, WeightRef table, const int32_t* ids) {
  wait_for_previous_kernel();
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  const PackedBlocks p = packed_blocks(table);
  float* out = y + t * y_stride;
  const bool valid = id >= 0 && id < table.rows;
  for (int64_t i = threadIdx.x; i < table.cols; i += blockDim.x)
    out[i] = valid ? weight_element(table, p, id, i) : __int_as_float(0x7fc00000);
}

}  // namespace

void launch_embedding(float* y, int64_t y_stride, WeightRef table, const int32_t* ids, int64_t count,
                      cudaStream_t stream) {
  if (count == 0) return;
  launch_kernel(embedding_kernel, static_cast<unsigned>(count), 256, 0, stream, y, y_stride, table, ids);
  check_launch("embedding_kernel");
}

}  // namespace strata::cuda
