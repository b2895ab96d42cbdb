#include "kernels/backend.h"

namespace strata {

// Defined here, with the backend that first needed it; the layout itself is device-neutral.
size_t KVCacheLayout::bytes_per_block() const {
  const int64_t per_tensor = dtype_row_bytes(dtype, int64_t{block_size} * num_kv_heads * head_dim);
  return static_cast<size_t>(per_tensor) * 2 * static_cast<size_t>(num_layers);
}

}  // namespace strata
