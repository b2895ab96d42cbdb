#pragma once
// cuBLAS reached through dlopen on first use rather than linked: the library and its
// cuBLASLt dependency are ~500 MB of shared objects whose relocation alone costs every
// Strata process ~200 MB of resident memory at start, CPU-only runs and `--help`
// included. Only the backend's few entry points are resolved.
#include <cublas_v2.h>

namespace strata {

struct CublasApi {
  decltype(&cublasCreate) create;
  decltype(&cublasDestroy) destroy;
  decltype(&cublasSetStream) set_stream;
  decltype(&cublasSetWorkspace) set_workspace;
  // cublasGemmEx has a C++ overload (taking cudaDataType compute types), so spelled out.
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                            cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  decltype(&cublasGetStatusName) status_name;
  decltype(&cublasGetStatusString) status_string;
};

// Loads libcublas on the first call (thread-safe); throws Error naming the library or
// symbol that is missing.
const CublasApi& cublas_api();

}  // namespace strata
