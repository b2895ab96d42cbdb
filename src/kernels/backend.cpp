#include "kernels/backend.h"

#include <string>

#include "core/error.h"

namespace strata {

// Backends without their own: rows in host memory (the CPU backend).
void Backend::sample_rows(Tensor& ids, Tensor& logits, const SamplingRows& sampling) {
  if (ids.device() != Device::CPU || logits.device() != Device::CPU)
    throw Error("sample_rows: " + name() + " samples host rows only (ids " + ids.describe() + ", logits " +
                logits.describe() + ")");
  sample_host_rows(ids, logits, sampling);
}

}  // namespace strata
