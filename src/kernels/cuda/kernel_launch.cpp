
#include "kernels/cuda/kernel_launch.cuh"

#include "core/error.h"
#include "kernels/cuda/env_switch.h"

namespace strata::cuda {

namespace {

bool read_dependent_launch_switch() {
  if (switched_off("STRATA_CUDA_PDL")) return false;
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

void report_launch_failure(cudaError_t status, const void* kernel, const cudaLaunchConfig_t& config) {
  const char* name = nullptr;
  if (cudaFuncGetName(&name, kernel) != cudaSuccess || !name) name = "(unknown kernel)";
  const auto dims = [](dim3 d) {
    return std::to_string(d.x) + "x" + std::to_string(d.y) + "x" + std::to_string(d.z);
  };
  cuda_check(status, (std::string("launch of ") + name + " (grid " + dims(config.gridDim) + ", block " +
                      dims(config.blockDim) + ", " + std::to_string(config.dynamicSmemBytes) + " bytes of shared memory)")
                         .c_str());
  throw Error("kernel launch failed");  // not reached: cuda_check throws for any error
}

}  // namespace strata::cuda
