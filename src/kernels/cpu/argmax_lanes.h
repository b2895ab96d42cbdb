#pragma once
// The pieces of VectorOps::argmax that its vector versions share: the scalar definition
// (`if (x[i] > x[best]) best = i`: ties to the first index, a NaN never chosen unless it is
// x[0]) and the last step after the vector loop, which picks the best of the lanes' (largest
// value, its first index) pairs and scans the elements past the last whole vector.
// Internal linkage: each file compiles its own copy with its own ISA flags (a shared inline
// copy could be one compiled for AVX-512 and run on a CPU without it).
#include <cstdint>

namespace strata::cpu {
namespace {

inline int64_t argmax_scalar(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

inline int64_t argmax_of_lanes(const float* values, const int32_t* indices, int lanes, const float* x,
                               int64_t tail_begin, int64_t n) {
  int64_t result = indices[0];
  float top = values[0];
  for (int l = 1; l < lanes; ++l)
    if (values[l] > top || (values[l] == top && indices[l] < result)) top = values[l], result = indices[l];
  for (int64_t i = tail_begin; i < n; ++i)
    if (x[i] > top) top = x[i], result = i;
  return result;
}

}  // namespace
}  // namespace strata::cpu
