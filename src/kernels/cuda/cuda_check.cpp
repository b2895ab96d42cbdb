#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cublas_api.h"

#include <string>

#include "core/error.h"

namespace strata::cuda {

void cuda_check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw Error(std::string("CUDA error in ") + what + ": " + cudaGetErrorName(status) + " (" +
                cudaGetErrorString(status) + ")");
}

void cublas_check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("cuBLAS error in ") + what + ": " + cublas_api().status_name(status) + " (" +
                cublas_api().status_string(status) + ")");
}

void check_launch(const char* kernel) { cuda_check(cudaGetLastError(), kernel); }

}  // namespace strata::cuda
