// Writing this step's keys and values into their paged-cache slots: one block per token,
// threads over (head, dim), converting to the cache dtype.
#include <cuda_fp16.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"

namespace strata::cuda {

namespace {

__global__ void store_kv_kernel(KVLayer cache, const float* k, int64_t k_token_stride, int64_t k_head_stride,
                                const float* v, int64_t v_token_stride, int64_t v_head_stride,
                                const int32_t* slots) {
  const int64_t t = blockIdx.x;
  const int32_t slot = slots[t];
  if (slot < 0 || slot >= cache.num_slots) return;  // padding (or a slot the host rejected)
  const int dim = cache.head_dim, per_token = cache.kv_heads * dim;
  const int64_t base = int64_t{slot} * per_token;
  for (int i = threadIdx.x; i < per_token; i += blockDim.x) {
    const int h = i / dim, d = i % dim;
    const float kv_k = k[t * k_token_stride + h * k_head_stride + d];
    const float kv_v = v[t * v_token_stride + h * v_head_stride + d];
    if (cache.f16) {
      static_cast<__half*>(cache.k)[base + i] = __float2half_rn(kv_k);
      static_cast<__half*>(cache.v)[base + i] = __float2half_rn(kv_v);
    } else {
      static_cast<float*>(cache.k)[base + i] = kv_k;
      static_cast<float*>(cache.v)[base + i] = kv_v;
    }
  }
}

}  // namespace

void launch_store_kv(KVLayer cache, const float* k, int64_t k_token_stride, int64_t k_head_stride, const float* v,
                     int64_t v_token_stride, int64_t v_head_stride, const int32_t* slots, int64_t tokens,
                     cudaStream_t stream) {
  if (tokens == 0) return;
  store_kv_kernel<<<static_cast<unsigned>(tokens), 256, 0, stream>>>(cache, k, k_token_stride, k_head_stride, v,
                                                                     v_token_stride, v_head_stride, slots);
  check_launch("store_kv_kernel");
}

}  // namespace strata::cuda
