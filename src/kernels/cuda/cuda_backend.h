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
  // The activations of small-batch products of Q8_0/Q4_0/Q4_1 weights (dp4a kernels):
  // Int16 (default) rounds them as the CPU backend does, to int16 groups of 32 (~1e-5);
  // Int8 to int8 blocks, faster but coarse enough to flip near-tie tokens
  // (bench/cuda/NOTES.md); F32 keeps them (weights decoded to floats, the slowest).
  // STRATA_CUDA_GEMV=int16, =int8 or =f32 overrides this.
  enum class QuantizedActivations { Int16, Int8, F32 };
  QuantizedActivations quantized_activations = QuantizedActivations::Int16;
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
