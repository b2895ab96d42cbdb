#pragma once
// The per-sequence random generator of sampling: splitmix64, chosen because its whole state
// is one uint64_t (cheap to seed, copy and reproduce on any machine) and its output is
// well distributed for the few draws per token that sampling needs.
#include <cstdint>

namespace strata {

inline uint64_t splitmix64_next(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 53 random bits.
inline double uniform01(uint64_t& state) {
  return static_cast<double>(splitmix64_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace strata
