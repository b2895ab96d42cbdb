// Rotary embeddings on this step's queries and keys, and the keys and values into their
// paged-cache slots, in one kernel: a block per (token, head), a thread per rotary pair,
// so that a decode step's few tokens still spread over many SMs (one block a token left
// the kernel latency-bound: ~9 us a layer on an H200 at batch 1). Decode launches this
// once a layer instead of two rope kernels and a store.
#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/kv_cache_device.cuh"
#include "kernels/cuda/rope_device.cuh"

namespace strata::cuda {

namespace {

// Block (t, h): query head h of token t for h < q.heads, else key head h - q.heads with
// its value.
__global__ void rope_store_kv_kernel(RopeStoreKVArgs a) {
  wait_for_previous_kernel();
  const int64_t t = blockIdx.x;
  const int half = a.half, position = a.positions[t];
  if (static_cast<int>(blockIdx.y) < a.q.heads) {
    float* head = a.q.data + t * a.q.token_stride + int64_t{blockIdx.y} * a.q.head_stride;
    for (int p = threadIdx.x; p < half; p += blockDim.x)
      rotate_pair(head[rope_first(p, half, a.neox)], head[rope_second(p, half, a.neox)],
                  rope_angle(position, a.inv_freq[p]));
    return;
  }
  // Keys: each rotated pair back into k and into the cache; dimensions past the rotary
  // ones (partial rotary) only into the cache. Values follow their keys' dimensions.
  const int h = static_cast<int>(blockIdx.y) - a.q.heads;
  const KVLayer& cache = a.cache;
  const int32_t slot = a.slots[t];
  const bool store = cache_slot_valid(cache, slot);
  const int dim = cache.head_dim, per_head = half + (dim - 2 * half);
  const int64_t out = int64_t{slot} * cache.kv_heads * dim + int64_t{h} * dim;
  float* key = a.k.data + t * a.k.token_stride + h * a.k.head_stride;
  const float* value = a.v + t * a.v_token_stride + h * a.v_head_stride;
  for (int j = threadIdx.x; j < per_head; j += blockDim.x) {
    if (j < half) {
      const int d0 = rope_first(j, half, a.neox), d1 = rope_second(j, half, a.neox);
      float x0 = key[d0], x1 = key[d1];
      rotate_pair(x0, x1, rope_angle(position, a.inv_freq[j]));
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
  const int per_head = args.half + (args.cache.head_dim - 2 * args.half);
  const int threads = std::min(128, (per_head + 31) / 32 * 32);
  const dim3 grid(static_cast<unsigned>(tokens), static_cast<unsigned>(args.q.heads + args.k.heads));
  launch_kernel(rope_store_kv_kernel, grid, threads, 0, stream, args);
}

}  // namespace strata::cuda
