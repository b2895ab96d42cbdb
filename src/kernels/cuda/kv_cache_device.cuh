#pragma once
// Writing one key and one value element into the paged cache, in its dtype (f16 or f32):
// shared by the KV-store kernel and the fused rope + KV-store kernel.
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/launch.h"

namespace strata::cuda {

__device__ __forceinline__ void store_cache_element(const KVLayer& cache, int64_t index, float key, float value) {
  if (cache.f16) {
    static_cast<__half*>(cache.k)[index] = __float2half_rn(key);
    static_cast<__half*>(cache.v)[index] = __float2half_rn(value);
  } else {
    static_cast<float*>(cache.k)[index] = key;
    static_cast<float*>(cache.v)[index] = value;
  }
}

// Two consecutive elements of the keys or the values (`base`: cache.k or cache.v), each
// rounded as store_cache_element rounds it.
__device__ __forceinline__ void store_cache_pair(const KVLayer& cache, void* base, int64_t index, float a, float b) {
  if (cache.f16) {
    static_cast<__half*>(base)[index] = __float2half_rn(a);
    static_cast<__half*>(base)[index + 1] = __float2half_rn(b);
  } else {
    static_cast<float*>(base)[index] = a;
    static_cast<float*>(base)[index + 1] = b;
  }
}

// Slots < 0 are padding; one past the cache is a slot the host rejected.
__device__ __forceinline__ bool cache_slot_valid(const KVLayer& cache, int32_t slot) {
  return slot >= 0 && slot < cache.num_slots;
}

}  // namespace strata::cuda
