#include "engine/model_runner.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/memory.h"

namespace strata {

namespace {

// Zero-filled host memory mapped on first touch, so swap space costs nothing until used.
Tensor lazily_zeroed_host_tensor(const Tensor::Shape& shape, DType dtype) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  const size_t bytes = static_cast<size_t>(dtype_row_bytes(dtype, n));
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw Error("out of host memory mapping " + std::to_string(bytes) + " bytes of swap space");
  std::shared_ptr<void> unmap(p, [bytes](void* q) { munmap(q, bytes); });
  return Tensor::view_of(Storage::wrap(p, bytes, Device::CPU, std::move(unmap)), 0, dtype, shape);
}

}  // namespace

KVStorage allocate_host_kv(const KVCacheLayout& layout) {
  KVStorage kv;
  kv.layout = layout;
  if (layout.num_blocks <= 0) return kv;
  const Tensor::Shape shape{layout.num_blocks, layout.block_size, layout.num_kv_heads, layout.head_dim};
  for (int layer = 0; layer < layout.num_layers; ++layer) {
    kv.k.push_back(lazily_zeroed_host_tensor(shape, layout.dtype));
    kv.v.push_back(lazily_zeroed_host_tensor(shape, layout.dtype));
  }
  return kv;
}

ModelRunner::ModelRunner(CausalLM& model, const KVCacheLayout& layout, int num_host_blocks)
    : model_(model), device_kv_(model.backend().allocate_kv(layout)) {
  KVCacheLayout host_layout = layout;
  host_layout.num_blocks = num_host_blocks;
  host_kv_ = allocate_host_kv(host_layout);
}

ModelRunner::~ModelRunner() {
  stop_prefault_ = true;
  if (prefault_thread_.joinable()) prefault_thread_.join();
}

size_t ModelRunner::prefault_kv(bool log) {
  std::vector<std::pair<char*, size_t>> ranges;
  size_t bytes = 0;
  for (auto* tensors : {&device_kv_.k, &device_kv_.v}) {
    for (Tensor& t : *tensors) {
      if (t.device() != Device::CPU || t.nbytes() == 0) continue;
      ranges.emplace_back(static_cast<char*>(t.raw_data()), t.nbytes());
      bytes += t.nbytes();
    }
  }
  if (ranges.empty() || prefault_thread_.joinable()) return bytes;
  // One page tells whether the kernel populates without writing; if not, touch now,
  // before the engine thread exists.
  if (!populate_pages(ranges.front().first, 1)) {
    for (auto [data, size] : ranges) touch_pages(data, size);
    return bytes;
  }
  prefault_thread_ = std::thread([this, ranges = std::move(ranges), bytes, log] {
    const auto start = std::chrono::steady_clock::now();
    constexpr size_t kChunk = size_t{64} << 20;  // checks for shutdown between chunks
    for (auto [data, size] : ranges)
      for (size_t offset = 0; offset < size && !stop_prefault_; offset += kChunk)
        populate_pages(data + offset, std::min(kChunk, size - offset));
    if (log && !stop_prefault_)
      std::fprintf(stderr, "strata: KV cache resident: %.1f MiB in %.1f s\n", static_cast<double>(bytes) / (1 << 20),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  });
  return bytes;
}

void ModelRunner::execute(const BatchPlan& plan, StepLogits& logits) {
  Backend& backend = model_.backend();
  if (!plan.swap_out.empty()) backend.copy_blocks(host_kv_, device_kv_, plan.swap_out);
  if (!plan.swap_in.empty()) backend.copy_blocks(device_kv_, host_kv_, plan.swap_in);
  if (!plan.copies.empty()) backend.copy_blocks(device_kv_, device_kv_, plan.copies);
  if (plan.sequences.empty()) {
    logits.logits = Tensor();
    logits.tokens.clear();
    return;
  }
  ForwardBatch batch;
  for (const auto& s : plan.sequences)
    batch.add_sequence(s.tokens, s.num_cached, s.block_table, device_kv_.layout.block_size,
                       s.wants_logits ? ForwardBatch::Logits::Last : ForwardBatch::Logits::None);
  model_.forward_step(batch, device_kv_, logits);
}

}  // namespace strata
