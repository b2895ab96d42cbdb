// Stand-ins for the CUDA backend in builds without nvcc (STRATA_CUDA off).
#include "core/error.h"
#include "kernels/cuda/cuda_backend.h"

namespace strata {

std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions&) {
  throw Error("this build of Strata has no CUDA backend (configure with nvcc available and STRATA_CUDA=ON)");
}

int cuda_device_count() { return 0; }

CudaMemoryInfo cuda_memory_info(int) { return {}; }

}  // namespace strata
