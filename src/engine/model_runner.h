#pragma once
// Runs one BatchPlan on the model: performs the plan's block copies (swap out, swap in,
// copy-on-write, in that order), builds the ForwardBatch and calls the model. Owns the
// device KV storage and the host swap storage.
#include <memory>

#include "model/model.h"
#include "scheduler/batch_plan.h"

namespace strata {

class ModelRunner {
 public:
  ModelRunner(CausalLM& model, const KVCacheLayout& layout, int num_host_blocks);

  // Fills `logits` [number of sequences wanting logits, vocab], in plan order.
  void execute(const BatchPlan& plan, Tensor& logits);

  const KVCacheLayout& layout() const { return device_kv_.layout; }

 private:
  CausalLM& model_;
  KVStorage device_kv_;
  KVStorage host_kv_;
};

// Host KV storage with `layout` (for swap space): zero-filled host tensors whose pages
// are mapped on first touch.
KVStorage allocate_host_kv(const KVCacheLayout& layout);

}  // namespace strata
