#include "kernels/cuda/cublas_api.h"

#include <dlfcn.h>

#include <string>

#include "core/error.h"

namespace strata {

namespace {

// The soname of the toolkit Strata was built with, then the unversioned development name.
void* open_cublas() {
  const std::string versioned = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  for (const std::string& name : {versioned, std::string("libcublas.so")})
    if (void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
  throw Error("cannot load cuBLAS (" + versioned + "): " + std::string(dlerror()) +
              "; is the CUDA toolkit's lib directory on the library path?");
}

template <typename Fn>
void resolve(void* handle, const char* symbol, Fn& out) {
  void* address = dlsym(handle, symbol);
  if (address == nullptr) throw Error(std::string("cuBLAS has no symbol ") + symbol);
  out = reinterpret_cast<Fn>(address);
}

CublasApi load() {
  void* handle = open_cublas();  // kept open for the life of the process
  CublasApi api{};
  // The _v2 names are what cublas_v2.h's macros call.
  resolve(handle, "cublasCreate_v2", api.create);
  resolve(handle, "cublasDestroy_v2", api.destroy);
  resolve(handle, "cublasSetStream_v2", api.set_stream);
  resolve(handle, "cublasSetWorkspace_v2", api.set_workspace);
  resolve(handle, "cublasGemmEx", api.gemm_ex);
  resolve(handle, "cublasGetStatusName", api.status_name);
  resolve(handle, "cublasGetStatusString", api.status_string);
  return api;
}

}  // namespace

const CublasApi& cublas_api() {
  static const CublasApi api = load();
  return api;
}

}  // namespace strata
