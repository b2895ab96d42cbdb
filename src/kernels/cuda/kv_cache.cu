// Writing this step's keys and values into their paged-cache slots: one block per token,
// threads over (head, dim), converting to the cache dtype.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/kv_cache_device.cuh"

namespace strata::cuda {

namespace {

__global__ void store_kv_kernel(KVLayer cache, const float* k, int64_t k_token_stride, int64_t k_head_stride,
                                const float* v, int64_t v_token_stride, int64_t v_head_stride,
                                const int32_t* slots) {
  wait_for_previous_kernel();
  const int64_t t = blockIdx.x;
  const int32_t slot = slots[t];
  if (!cache_slot_valid(cache, slot)) return;
  const int dim = cache.head_dim, per_token = cache.kv_heads * dim;
  const int64_t base = int64_t{slot} * per_token;
  for (int i = threadIdx.x; i < per_token; i += blockDim.x) {
    const int h = i / dim, d = i % dim;
    store_cache_element(cache, base + i, k[t * k_token_stride + h * k_head_stride + d],
                        v[t * v_token_stride + h * v_head_stride + d]);
  }
}

}  // namespace

void launch_store_kv(KVLayer cache, const float* k, int64_t k_token_stride, int64_t k_head_stride, const float* v,
                     int64_t v_token_stride, int64_t v_head_stride, const int32_t* slots, int64_t tokens,
                     cudaStream_t stream) {
  if (tokens == 0) return;
  launch_kernel(store_kv_kernel, static_cast<unsigned>(tokens), 256, 0, stream, cache, k, k_token_stride, k_head_stride, v,
                                                                     v_token_stride, v_head_stride, slots);
  check_launch("store_kv_kernel");
}

}  // namespace strata::cuda
