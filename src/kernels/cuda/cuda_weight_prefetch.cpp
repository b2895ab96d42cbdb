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
// 12 MB, at most 3/8 of each row: the 8B BF16 shape's wo gets 3 KB of each 8 KB row (+1.2%
// against none; 10 and 14 MB +0.9%, 16 MB +0.5%, 24 MB none, all 33.5 MB -2.4%: more, a guess,
// than L2 keeps for the program), the 1B shape's 1.5 KB of each 4 KB row (its whole 8.4 MB: -0.7%).
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

void CudaBackend::prefetch_weights(const Tensor& next_weight) {
  pending_prefetch_ = WeightPrefetch{};
  const int64_t budget = attention_prefetch_budget();
  if (budget <= 0 || !recording_ || !next_weight.defined() || next_weight.device() != Device::CUDA ||
      next_weight.ndim() != 2 || !next_weight.is_contiguous())
    return;
  const WeightRef w{next_weight.raw_data(), next_weight.dtype(), next_weight.size(0), next_weight.size(1)};
  // Only a product the program takes: a kernel's blocks already load early under dependent
  // launch (session 17's prefetch ahead of them measured slower).
  if (!program_gemv_supports(w) || !program_takes_rows(w, w.rows)) return;
  const int64_t row_bytes = dtype_row_bytes(w.dtype, w.cols);
  const int64_t lead = prefetch_lead_bytes(row_bytes, w.rows, budget);
  if (lead <= 0) return;
  pending_prefetch_ = WeightPrefetch{static_cast<const uint8_t*>(w.data), w.rows, row_bytes, static_cast<int32_t>(lead)};
}

}  // namespace strata::cuda
