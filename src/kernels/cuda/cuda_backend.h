#pragma once
// The CUDA backend's public face. Defined by the sources of this folder when the build has
// CUDA, and by no_cuda.cpp otherwise (which reports that no GPU backend was built), so
// callers never need to know how Strata was compiled.
#include <cstddef>
#include <memory>

#include "kernels/backend.h"

namespace strata {

struct CudaBackendOptions {
  int device = 0;  // CUDA device ordinal
  // Small-batch products of Q8_0/Q4_0/Q4_1 weights with activations rounded to int8
  // blocks (dp4a kernels): ~1.6x faster 8B Q4_0 decode, but the rounding flips near-tie
  // tokens (bench/cuda/NOTES.md), so it is opt-in; the default GEMV keeps f32 activations.
  // STRATA_CUDA_GEMV=int8 or =f32 overrides this.
  bool int8_activations = false;
};

// Throws Error when the build has no CUDA or the device cannot be opened.
std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options);

// GPUs usable by this build: 0 without CUDA support, without a driver or without a GPU.
int cuda_device_count();

struct CudaMemoryInfo {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
};
// Free and total memory of a device (zeros without CUDA).
CudaMemoryInfo cuda_memory_info(int device);

}  // namespace strata
