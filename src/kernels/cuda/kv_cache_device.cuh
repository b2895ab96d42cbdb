#pragma once
// Writing one key and one value element into the paged cache, in its dtype (f16 or f32):
// shared by the KV-store kernel and the fused rope + KV-store kernel.
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/launch.h"

namespace strata::cuda {

// One element of the keys or the values (`base`: cache.k or cache.v), rounded to half for
// an f16 cache.
__device__ __forceinline__ void store_cache_value(const KVLayer& cache, void* base, int64_t index, float x) {
  if (cache.f16) static_cast<__half*>(base)[index] = __float2half_rn(x);
  else static_cast<float*>(base)[index] = x;
}

__device__ __forceinline__ void store_cache_element(const KVLayer& cache, int64_t index, float key, float value) {
  store_cache_value(cache, cache.k, index, key);
  store_cache_value(cache, cache.v, index, value);
}

// Slots < 0 are padding; one past the cache is a slot the host rejected.
__device__ __forceinline__ bool cache_slot_valid(const KVLayer& cache, int32_t slot) {
  return slot >= 0 && slot < cache.num_slots;
}

}  // namespace strata::cuda
