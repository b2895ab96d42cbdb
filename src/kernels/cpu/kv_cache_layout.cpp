#include "kernels/backend.h"

#include <string>

#include "core/error.h"

namespace strata {

// Defined here, with the backend that first needed it; the layout itself is device-neutral.
size_t KVCacheLayout::bytes_per_block() const {
  const int64_t per_tensor = dtype_row_bytes(dtype, int64_t{block_size} * num_kv_heads * head_dim);
  return static_cast<size_t>(per_tensor) * 2 * static_cast<size_t>(num_layers);
}

void KVCacheLayout::check(const char* op) const {
  if (dtype != DType::F16 && dtype != DType::F32)
    throw Error(std::string(op) + ": KV cache dtype must be f16 or f32, got " + std::string(dtype_name(dtype)));
  if (num_layers <= 0 || num_blocks <= 0 || block_size <= 0 || num_kv_heads <= 0 || head_dim <= 0)
    throw Error(std::string(op) + ": every KV cache dimension must be positive");
}

void check_kv_layer(const KVStorage& kv, int layer, const char* op) {
  const auto& l = kv.layout;
  if (layer < 0 || layer >= l.num_layers || static_cast<size_t>(layer) >= kv.k.size() ||
      static_cast<size_t>(layer) >= kv.v.size())
    throw Error(std::string(op) + ": layer " + std::to_string(layer) + " out of range");
  if (l.dtype != DType::F16 && l.dtype != DType::F32)
    throw Error(std::string(op) + ": KV cache dtype must be f16 or f32, got " + std::string(dtype_name(l.dtype)));
}

}  // namespace strata
