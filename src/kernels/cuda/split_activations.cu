// f32 activation rows -> the int16 groups, split into signed bytes, that the integer GEMV
// of block-quantized weights reads (launch.h, SplitRows): the CPU backend's quantization
// (d = amax / levels, the CPU's for the weight format, q = round-to-nearest-even of x / d via the reciprocal, as
// cpu::quantize_activation_row_generic), so both backends' quantized products see the same
// integers. An RMSNorm can come first in the same kernel: the q/k/v and gate/up inputs are
// normalized and quantized in one launch.
#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/kernel_launch.cuh"

namespace strata::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kGroupsPerBlock = kThreads / 32;

// Grid (groups / 8, rows): a warp takes one group of 32, one value a lane. With a norm,
// every block of a row first sums the whole row's squares (from L2, as rms_norm does),
// so that the row's groups spread over many blocks: one block a row left a 14,336-wide
// row to a single SM.
__global__ void split_rows_kernel(const float* x, int64_t x_stride, GemvNorm norm, int levels, SplitRows out) {
  wait_for_previous_kernel();
  const int64_t row = blockIdx.y, cols = out.cols;
  const float* src = x + row * x_stride;
  const float inv_rms = norm.weight ? block_inv_rms<kThreads>(src, cols, norm.eps) : 1.f;
  const int lane = threadIdx.x % 32;
  const int64_t g = int64_t{blockIdx.x} * kGroupsPerBlock + threadIdx.x / 32;
  if (g >= cols / 32) return;
  const int64_t i = g * 32 + lane;
  const float v = norm.weight ? src[i] * inv_rms * norm.weight[i] : src[i];
  const float amax = warp_max(fabsf(v)), total = warp_sum(v);
  const float d = amax / static_cast<float>(levels), inv = d != 0.f ? 1.f / d : 0.f;
  const int q = __float2int_rn(v * inv);
  const int lo = static_cast<int8_t>(q);  // q - lo is a multiple of 256
  out.hi[row * cols + i] = static_cast<int8_t>((q - lo) / 256);
  out.lo[row * cols + i] = static_cast<int8_t>(lo);
  const int q_sum = warp_sum_int(q);
  if (lane == 0) out.groups[row * (cols / 32) + g] = SplitGroup{d, total, q_sum, 0};
}

}  // namespace

size_t split_rows_bytes(int64_t rows, int64_t cols) {
  const int64_t bytes = (rows * cols + 15) / 16 * 16;
  return static_cast<size_t>(2 * bytes + rows * (cols / 32) * static_cast<int64_t>(sizeof(SplitGroup)));
}

SplitRows split_rows_view(void* buffer, int64_t rows, int64_t cols) {
  auto* base = static_cast<int8_t*>(buffer);
  const int64_t bytes = (rows * cols + 15) / 16 * 16;
  return {base, base + bytes, reinterpret_cast<SplitGroup*>(base + 2 * bytes), rows, cols};
}

void launch_split_rows(const float* x, int64_t x_stride, const GemvNorm& norm, int levels, SplitRows out,
                       cudaStream_t stream) {
  if (out.cols % 32 != 0) throw Error("split_rows: needs rows of a multiple of 32 values");
  if (levels <= 0 || levels > kMaxSplitLevels) throw Error("split_rows: levels beyond two signed bytes");
  if (out.rows == 0) return;
  const dim3 grid(blocks_for(out.cols / 32, kGroupsPerBlock), static_cast<unsigned>(out.rows));
  launch_kernel(split_rows_kernel, grid, kThreads, 0, stream, x, x_stride, norm, levels, out);
}

}  // namespace strata::cuda
