#pragma once
// The CUDA backend's A/B switches: environment variables read once by their users (each
// keeps the value it read in a function-local constant).
#include <cstdlib>
#include <cstring>

namespace strata::cuda {

// Whether the environment variable `name` is set to exactly `value`.
inline bool env_is(const char* name, const char* value) {
  const char* set = std::getenv(name);
  return set && std::strcmp(set, value) == 0;
}

// A switch turned off by setting it to 0 (STRATA_CUDA_GRAPHS=0, ...).
inline bool switched_off(const char* name) { return env_is(name, "0"); }

}  // namespace strata::cuda
