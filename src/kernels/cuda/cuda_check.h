#pragma once
// Every CUDA and cuBLAS call's status goes through these: a failure throws Error naming
// the operation, so nothing continues on a broken device state unnoticed.
#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace strata::cuda {

void cuda_check(cudaError_t status, const char* what);
void cublas_check(cublasStatus_t status, const char* what);
// After a kernel launch: reports a bad launch configuration at once (asynchronous faults
// surface at the next synchronising call, also checked).
void check_launch(const char* kernel);

}  // namespace strata::cuda
