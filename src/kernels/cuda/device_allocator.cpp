#include "kernels/cuda/device_allocator.h"

#include <cuda_runtime.h>

#include <string>

#include "core/error.h"
#include "kernels/cuda/cuda_check.h"

namespace strata::cuda {

DeviceAllocator::~DeviceAllocator() { release_cached(); }

// Small blocks round to 512 bytes, large ones to 2 MiB, so that the few sizes a model
// asks for (scratch of the same shapes, step after step) map onto reusable buckets.
size_t DeviceAllocator::round_up(size_t bytes) {
  const size_t unit = bytes < (size_t{1} << 20) ? 512 : (size_t{2} << 20);
  return (std::max<size_t>(bytes, 1) + unit - 1) / unit * unit;
}

void* DeviceAllocator::take(size_t rounded) {
  {
    std::lock_guard lock(mutex_);
    // Best fit among cached blocks up to twice the size: larger ones would waste memory.
    auto it = free_.lower_bound(rounded);
    if (it != free_.end() && it->first <= 2 * rounded) {
      void* p = it->second;
      cached_ -= it->first;
      in_use_ += it->first;
      free_.erase(it);
      return p;
    }
  }
  cuda_check(cudaSetDevice(device_), "cudaSetDevice");
  void* p = nullptr;
  cudaError_t status = cudaMalloc(&p, rounded);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear the sticky-free error before retrying
    release_cached();
    status = cudaMalloc(&p, rounded);
  }
  if (status != cudaSuccess) {
    cudaGetLastError();
    throw Error("out of GPU memory: cudaMalloc of " + std::to_string(rounded) + " bytes failed (" +
                cudaGetErrorString(status) + "); " + std::to_string(in_use_) + " bytes in use");
  }
  std::lock_guard lock(mutex_);
  in_use_ += rounded;
  return p;
}

void DeviceAllocator::give_back(void* p, size_t rounded) {
  std::lock_guard lock(mutex_);
  in_use_ -= rounded;
  cached_ += rounded;
  free_.emplace(rounded, p);
}

std::shared_ptr<Storage> DeviceAllocator::allocate(size_t bytes) {
  const size_t rounded = round_up(bytes);
  void* p = take(rounded);
  std::shared_ptr<DeviceAllocator> self = shared_from_this();
  std::shared_ptr<void> keepalive(p, [self, rounded](void* q) { self->give_back(q, rounded); });
  return Storage::wrap(p, bytes, Device::CUDA, std::move(keepalive));
}

size_t DeviceAllocator::bytes_in_use() const {
  std::lock_guard lock(mutex_);
  return in_use_;
}

size_t DeviceAllocator::bytes_cached() const {
  std::lock_guard lock(mutex_);
  return cached_;
}

void DeviceAllocator::release_cached() {
  std::lock_guard lock(mutex_);
  cudaSetDevice(device_);
  for (auto& [size, p] : free_) cudaFree(p);  // errors at teardown have no one to report to
  free_.clear();
  cached_ = 0;
}

}  // namespace strata::cuda
