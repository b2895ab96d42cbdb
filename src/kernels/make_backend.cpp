#include "kernels/make_backend.h"

#include "core/error.h"
#include "kernels/cuda/cuda_backend.h"

namespace strata {

std::unique_ptr<Backend> make_backend(const BackendOptions& options) {
  if (options.device == Device::CUDA) {
    CudaBackendOptions cuda;
    cuda.device = options.cuda_device;
    cuda.batch_invariant = options.batch_invariant;
    return make_cuda_backend(cuda);
  }
  CpuBackendOptions cpu;
  cpu.num_threads = options.num_threads;
  cpu.int8_activations = options.cpu_int8_activations;
  return make_cpu_backend(cpu);
}

Device default_device() { return cuda_device_count() > 0 ? Device::CUDA : Device::CPU; }

Device parse_device(std::string_view name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda" || name == "gpu") return Device::CUDA;
  if (name == "auto" || name.empty()) return default_device();
  throw InvalidArgument("--device", "unknown device '" + std::string(name) + "' (cpu, cuda, auto)");
}

std::string_view device_name(Device device) { return device == Device::CUDA ? "cuda" : "cpu"; }

}  // namespace strata
