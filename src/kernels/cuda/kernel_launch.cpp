#include <cstdlib>
#include <string>

#include "kernels/cuda/kernel_launch.cuh"

namespace strata::cuda {

namespace {

bool read_dependent_launch_switch() {
  const char* value = std::getenv("STRATA_CUDA_PDL");
  if (value && std::string(value) == "0") return false;
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
  return major >= 9;
}

}  // namespace

bool dependent_launch_enabled() {
  // One process-wide setting, fixed at the first launch: a constant, not state.
  static const bool enabled = read_dependent_launch_switch();
  return enabled;
}

}  // namespace strata::cuda
