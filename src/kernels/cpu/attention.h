#pragma once
// Paged KV cache operations on the CPU: writing new keys/values into their slots, causal
// grouped-query attention read through block tables, and whole-block copies.
// Cache layout per layer: [num_blocks, block_size, num_kv_heads, head_dim], f16 or f32.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "kernels/backend.h"

namespace strata::cpu {

void store_kv(ThreadPool& pool, KVStorage& kv, int layer, const Tensor& k, const Tensor& v,
              const BatchTensors& batch);

// out[T, Hq * D] = softmax(scale * q k^T) v over cache positions [0, position] of each token.
// scratch holds partial results when long contexts are split across threads; it grows
// as needed and is kept by the caller so that steady-state calls do not allocate.
void paged_attention(ThreadPool& pool, Tensor& out, const Tensor& q, const KVStorage& kv, int layer,
                     const BatchTensors& batch, float scale, std::vector<float>& scratch);

void copy_kv_blocks(KVStorage& dst, const KVStorage& src, std::span<const std::pair<int32_t, int32_t>> src_dst);

}  // namespace strata::cpu
