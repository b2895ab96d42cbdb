// Backend::prefetch_weights on CUDA: the weights of the products after a decode step's
// attention, up to STRATA_CUDA_ATTENTION_PREFETCH_MB megabytes (0, the default, asks for
// none), become ranges of 128-byte lines that the attention kernel asks L2 for once the
// q/k/v product before it has ended (AttentionArgs::prefetch). A product that does not fit
// whole gets the same leading share of each of its weights' rows (gate and up rows are
// read side by side), and of a block-quantized weight's quants and its scales alike.
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/env_switch.h"
#include "kernels/cuda/tensor_args.h"
#include "kernels/cuda/weight_layout.h"

namespace strata::cuda {

namespace {

int64_t prefetch_budget_bytes() {
  static const int64_t bytes = env_count("STRATA_CUDA_ATTENTION_PREFETCH_MB", 0) << 20;
  return bytes;
}

void add_range(L2Prefetch& p, const void* data, int64_t bytes) {
  if (bytes <= 0 || p.count == kMaxPrefetchRanges) return;
  const auto begin = reinterpret_cast<uintptr_t>(data) & ~uintptr_t{127};
  const auto end = reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(bytes);
  p.begin[p.count] = reinterpret_cast<const char*>(begin);
  p.lines[p.count] = static_cast<int64_t>((end - begin + 127) / 128);
  ++p.count;
}

// The first `rows` rows of a weight as the kernels read them (weight_layout.h).
void add_rows(L2Prefetch& p, const WeightRef& w, int64_t rows) {
  const auto* base = static_cast<const uint8_t*>(w.data);
  if (!is_repacked(w.dtype)) {
    add_range(p, base, rows * dtype_row_bytes(w.dtype, w.cols));
    return;
  }
  const int64_t blocks = w.rows * (w.cols / 32), row_blocks = rows * (w.cols / 32);
  const uint8_t* scales = base + blocks * packed_quant_bytes(w.dtype);
  add_range(p, base, row_blocks * packed_quant_bytes(w.dtype));
  add_range(p, scales, row_blocks * 2);
  if (w.dtype == DType::Q4_1) add_range(p, scales + blocks * 2, row_blocks * 2);
}

}  // namespace

void CudaBackend::prefetch_weights(std::span<const UpcomingProduct> products) {
  pending_prefetch_ = L2Prefetch{};
  int64_t budget = prefetch_budget_bytes();
  for (const UpcomingProduct& product : products) {
    int64_t bytes = 0;
    for (const Tensor* w : product.w)
      if (w && w->defined()) bytes += static_cast<int64_t>(w->nbytes());
    if (budget <= 0) return;
    if (bytes == 0) continue;
    const double share = std::min(1.0, static_cast<double>(budget) / static_cast<double>(bytes));
    for (const Tensor* w : product.w) {
      if (!w || !w->defined()) continue;
      const WeightRef ref = weight_ref(*w, "prefetch_weights");
      add_rows(pending_prefetch_, ref, std::min(ref.rows, static_cast<int64_t>(share * static_cast<double>(ref.rows)) + 1));
    }
    budget -= bytes;
  }
}

}  // namespace strata::cuda
