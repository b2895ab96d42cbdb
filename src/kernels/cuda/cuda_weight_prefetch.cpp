// Backend::prefetch_weights on CUDA. In a batch-1 decode step the step program ends before
// attention and starts again after it (the tensor-core decode kernel takes attention), and
// nothing reads weights meanwhile: the program's warps issue their first loads only once it
// has started. So the product after attention (wo), when the program takes it, has the
// leading bytes of each of its rows asked of L2 by the attention kernel (WeightPrefetch):
// the program's warps read every row from its start in 2 KB steps, so those bytes are the
// ones read first. Budget: STRATA_CUDA_ATTENTION_PREFETCH_MB (0 turns it off).
// Measured (H100, session 20, bench/RESULTS.md): the default below lifted batch-1 decode of
// the 8B BF16 shape from 177.2-177.3 to 179.6-179.8 tok/s (+1.4%) and of the 1B shape +0.9%.
#include <algorithm>
#include <cstdlib>

#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/tensor_args.h"

namespace strata::cuda {

namespace {

// Prefetches cover whole 512-byte pieces of a row (a program warp's load step is 2 KB of
// each of its two rows).
constexpr int64_t kPrefetchGrain = 512;
// 12 MB, at most 3/8 of each row: the 8B BF16 shape's wo gets 3 KB of each 8 KB row (+1.3%
// against none; 10 and 14 MB +1.0%, 16 MB +0.5%, 24 MB none, all 33.5 MB -2.4%: more than L2
// keeps for the program), the 1B shape's 1.5 KB of each 4 KB row (its whole 8.4 MB: -0.7%).
constexpr int64_t kDefaultPrefetchBytes = int64_t{12} << 20;
constexpr int64_t kMaxLeadEighths = 3;

int64_t attention_prefetch_budget() {
  static const int64_t bytes = [] {
    const char* mb = std::getenv("STRATA_CUDA_ATTENTION_PREFETCH_MB");
    return mb ? std::max<int64_t>(0, std::atoll(mb)) << 20 : kDefaultPrefetchBytes;
  }();
  return bytes;
}

}  // namespace

int64_t prefetch_lead_bytes(int64_t row_bytes, int64_t rows, int64_t budget) {
  if (row_bytes <= 0 || rows <= 0 || budget <= 0) return 0;
  return std::min(row_bytes * kMaxLeadEighths / 8, budget / rows) / kPrefetchGrain * kPrefetchGrain;
}

void CudaBackend::prefetch_weights(std::span<const Tensor* const> next_product) {
  pending_prefetch_ = WeightPrefetch{};
  const int64_t budget = attention_prefetch_budget();
  if (budget <= 0 || !recording_ || next_product.empty() ||
      next_product.size() > static_cast<size_t>(kMaxPrefetchWeights))
    return;
  WeightRef refs[kMaxPrefetchWeights];
  int64_t rows = 0;
  for (size_t i = 0; i < next_product.size(); ++i) {
    const Tensor* w = next_product[i];
    if (!w || !w->defined() || w->device() != Device::CUDA || w->ndim() != 2 || !w->is_contiguous()) return;
    refs[i] = WeightRef{w->raw_data(), w->dtype(), w->size(0), w->size(1)};
    if (!program_gemv_supports(refs[i]) || refs[i].dtype != refs[0].dtype || refs[i].cols != refs[0].cols) return;
    rows += refs[i].rows;
  }
  // Only a product the program takes: a kernel's blocks already load early under dependent
  // launch (session 17's prefetch ahead of them measured slower).
  if (!program_takes_rows(refs[0], rows)) return;
  const int64_t row_bytes = dtype_row_bytes(refs[0].dtype, refs[0].cols);
  const int64_t lead = prefetch_lead_bytes(row_bytes, rows, budget);
  if (lead <= 0) return;
  for (size_t i = 0; i < next_product.size(); ++i) {
    WeightPrefetch& p = pending_prefetch_;
    p.base[p.count] = static_cast<const uint8_t*>(refs[i].data);
    p.rows[p.count] = refs[i].rows;
    p.row_bytes[p.count] = row_bytes;
    p.lead_bytes[p.count] = static_cast<int32_t>(lead);
    ++p.count;
  }
}

}  // namespace strata::cuda
