#pragma once
// Choosing a backend by device: the one place outside kernels/ that names devices, so
// that model and engine code take a Backend and never branch on where it runs.
#include <memory>
#include <string>
#include <string_view>

#include "kernels/backend.h"

namespace strata {

struct BackendOptions {
  Device device = Device::CPU;
  int num_threads = 0;  // CPU threads (0: all cores); the CUDA backend ignores it
  int cuda_device = 0;  // CUDA device ordinal
  bool cpu_int8_activations = false;  // CpuBackendOptions::int8_activations
  bool batch_invariant = false;  // CudaBackendOptions::batch_invariant (the CPU backend always is)
};

std::unique_ptr<Backend> make_backend(const BackendOptions& options);

// CUDA when this build has the CUDA backend and a GPU is present, else CPU.
Device default_device();

// "cpu" | "cuda" | "auto" (default_device()); throws InvalidArgument naming --device.
Device parse_device(std::string_view name);

std::string_view device_name(Device device);

}  // namespace strata
