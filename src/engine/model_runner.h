#pragma once
// Runs one BatchPlan on the model: performs the plan's block copies (swap out, swap in,
// copy-on-write, in that order), builds the ForwardBatch and calls the model. Owns the
// device KV storage and the host swap storage.
#include <atomic>
#include <memory>
#include <thread>

#include "model/model.h"
#include "scheduler/batch_plan.h"

namespace strata {

class ModelRunner {
 public:
  ModelRunner(CausalLM& model, const KVCacheLayout& layout, int num_host_blocks);
  ~ModelRunner();
  ModelRunner(const ModelRunner&) = delete;
  ModelRunner& operator=(const ModelRunner&) = delete;

  // Runs the plan; `logits` gets the rows of the sequences wanting logits, in plan order
  // (its full_rows says which the caller reads in full: see StepLogits).
  void execute(const BatchPlan& plan, StepLogits& logits);

  const KVCacheLayout& layout() const { return device_kv_.layout; }

  // Makes the device KV storage resident when it is host memory mapped lazily (the CPU
  // backend), so that the footprint does not grow as blocks are first used. Where the
  // kernel can populate pages without writing them (Linux 5.14+) this runs on a thread
  // of its own while the engine serves (page faults cost ~0.3 s/GiB or more), and logs
  // when done if `log`; elsewhere it touches every page before returning. Returns the
  // bytes concerned (0 on a GPU, whose KV memory is allocated and zeroed up front).
  size_t prefault_kv(bool log);

 private:
  CausalLM& model_;
  KVStorage device_kv_;
  KVStorage host_kv_;
  std::atomic<bool> stop_prefault_{false};
  std::thread prefault_thread_;
};

// Host KV storage with `layout` (for swap space): zero-filled host tensors whose pages
// are mapped on first touch.
KVStorage allocate_host_kv(const KVCacheLayout& layout);

}  // namespace strata
