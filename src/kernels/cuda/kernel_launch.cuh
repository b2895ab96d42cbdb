#pragma once
// Every kernel of this folder is launched with launch_kernel and calls
// wait_for_previous_kernel() before it reads or writes anything another kernel touches:
// programmatic dependent launch (Hopper), so that a kernel's launch, block scheduling and
// first weight loads (weights are written long before) overlap the tail of the kernel
// before it instead of following its end. A decode step is hundreds of short dependent
// kernels, and that gap was a large part of a small model's step. STRATA_CUDA_PDL=0
// launches them plainly.
#include <cuda_runtime.h>

#include <utility>

#include "kernels/cuda/cuda_check.h"

namespace strata::cuda {

// Called by every block of every kernel, also on its early returns: it waits until the
// kernel before has finished and its writes are visible, then lets the next kernel
// launch. A kernel that skipped it could end before its predecessor, and a third kernel
// waiting on it would see the predecessor's writes unfinished.
__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// True on compute capability 9.0 and later unless STRATA_CUDA_PDL=0 (read once).
bool dependent_launch_enabled();

// Throws Error naming the kernel and its launch shape.
[[noreturn]] void report_launch_failure(cudaError_t status, const void* kernel, const cudaLaunchConfig_t& config);

template <typename... Params, typename... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                   Args&&... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = dependent_launch_enabled() ? 1 : 0;
  const cudaError_t status = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
  if (status != cudaSuccess) report_launch_failure(status, reinterpret_cast<const void*>(kernel), config);
}

}  // namespace strata::cuda
