#include "engine/model_runner.h"

namespace strata {

KVStorage allocate_host_kv(const KVCacheLayout& layout) {
  KVStorage kv;
  kv.layout = layout;
  if (layout.num_blocks <= 0) return kv;
  const Tensor::Shape shape{layout.num_blocks, layout.block_size, layout.num_kv_heads, layout.head_dim};
  for (int layer = 0; layer < layout.num_layers; ++layer) {
    kv.k.push_back(Tensor::empty(shape, layout.dtype));
    kv.v.push_back(Tensor::empty(shape, layout.dtype));
  }
  return kv;
}

ModelRunner::ModelRunner(CausalLM& model, const KVCacheLayout& layout, int num_host_blocks)
    : model_(model), device_kv_(model.backend().allocate_kv(layout)) {
  KVCacheLayout host_layout = layout;
  host_layout.num_blocks = num_host_blocks;
  host_kv_ = allocate_host_kv(host_layout);
}

void ModelRunner::execute(const BatchPlan& plan, Tensor& logits) {
  Backend& backend = model_.backend();
  if (!plan.swap_out.empty()) backend.copy_blocks(host_kv_, device_kv_, plan.swap_out);
  if (!plan.swap_in.empty()) backend.copy_blocks(device_kv_, host_kv_, plan.swap_in);
  if (!plan.copies.empty()) backend.copy_blocks(device_kv_, device_kv_, plan.copies);
  if (plan.sequences.empty()) return;
  ForwardBatch batch;
  for (const auto& s : plan.sequences)
    batch.add_sequence(s.tokens, s.num_cached, s.block_table, device_kv_.layout.block_size,
                       s.wants_logits ? ForwardBatch::Logits::Last : ForwardBatch::Logits::None);
  model_.forward(batch, device_kv_, logits);
}

}  // namespace strata
