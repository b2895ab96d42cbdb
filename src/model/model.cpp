#include "model/model.h"

namespace strata {

KVCacheLayout CausalLM::kv_layout(int num_blocks, int block_size, DType dtype) const {
  KVCacheLayout layout;
  layout.num_layers = config().num_layers;
  layout.num_blocks = num_blocks;
  layout.block_size = block_size;
  layout.num_kv_heads = config().num_kv_heads;
  layout.head_dim = config().head_dim;
  layout.dtype = dtype;
  return layout;
}

}  // namespace strata
