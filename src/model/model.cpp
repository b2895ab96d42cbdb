#include "model/model.h"

#include <algorithm>

#include "kernels/cpu/elementwise.h"

namespace strata {

bool StepLogits::any_full() const {
  if (full_rows.empty()) return true;
  for (uint8_t f : full_rows)
    if (f) return true;
  return false;
}

bool StepLogits::any_token_only() const {
  for (uint8_t f : full_rows)
    if (!f) return true;
  return false;
}

void CausalLM::forward_step(const ForwardBatch& batch, KVStorage& kv, StepLogits& out) {
  forward(batch, kv, out.logits);
  const int64_t rows = out.logits.defined() ? out.logits.size(0) : 0;
  out.tokens.assign(static_cast<size_t>(rows), 0);
  if (rows == 0 || !out.any_token_only()) return;
  Tensor ids = Tensor::empty({rows}, DType::I32);
  if (out.sampling.empty()) cpu::argmax_rows(ids, out.logits);
  else sample_host_rows(ids, out.logits, out.sampling);
  std::copy_n(ids.data<int32_t>(), rows, out.tokens.begin());
}

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
