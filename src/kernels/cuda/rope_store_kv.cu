// Rotary embeddings on this step's queries and keys, and the keys and values into their
// paged-cache slots, in one kernel: one block per token, its angles computed once into
// shared memory for all of its heads. Decode launches this once a layer instead of two
// rope kernels and a store.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/kv_cache_device.cuh"
#include "kernels/cuda/rope_device.cuh"

namespace strata::cuda {

namespace {

__global__ void rope_store_kv_kernel(RopeStoreKVArgs a) {
  wait_for_previous_kernel();
  __shared__ RopeAngle angles[kMaxRopePairs];
  const int64_t t = blockIdx.x;
  const int half = a.half;
  for (int p = threadIdx.x; p < half; p += blockDim.x) angles[p] = rope_angle(a.positions[t], a.inv_freq[p]);
  __syncthreads();
  for (int i = threadIdx.x; i < a.q.heads * half; i += blockDim.x) {
    const int pair = i % half;
    float* head = a.q.data + t * a.q.token_stride + (i / half) * a.q.head_stride;
    rotate_pair(head[rope_first(pair, half, a.neox)], head[rope_second(pair, half, a.neox)], angles[pair]);
  }
  // Keys: each rotated pair back into k and into the cache; dimensions past the rotary
  // ones (partial rotary) only into the cache. Values follow their keys' dimensions.
  const KVLayer& cache = a.cache;
  const int32_t slot = a.slots[t];
  const bool store = cache_slot_valid(cache, slot);
  const int dim = cache.head_dim, per_head = half + (dim - 2 * half);
  const int64_t base = int64_t{slot} * cache.kv_heads * dim;
  for (int i = threadIdx.x; i < a.k.heads * per_head; i += blockDim.x) {
    const int h = i / per_head, j = i % per_head;
    float* key = a.k.data + t * a.k.token_stride + h * a.k.head_stride;
    const float* value = a.v + t * a.v_token_stride + h * a.v_head_stride;
    const int64_t out = base + int64_t{h} * dim;
    if (j < half) {
      const int d0 = rope_first(j, half, a.neox), d1 = rope_second(j, half, a.neox);
      float x0 = key[d0], x1 = key[d1];
      rotate_pair(x0, x1, angles[j]);
      key[d0] = x0;
      key[d1] = x1;
      if (store) {
        store_cache_element(cache, out + d0, x0, value[d0]);
        store_cache_element(cache, out + d1, x1, value[d1]);
      }
    } else if (store) {
      const int d = 2 * half + (j - half);
      store_cache_element(cache, out + d, key[d], value[d]);
    }
  }
}

}  // namespace

void launch_rope_store_kv(const RopeStoreKVArgs& args, int64_t tokens, cudaStream_t stream) {
  if (tokens == 0) return;
  launch_kernel(rope_store_kv_kernel, static_cast<unsigned>(tokens), 128, 0, stream, args);
}

}  // namespace strata::cuda
