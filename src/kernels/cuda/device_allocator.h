#pragma once
// A caching allocator over cudaMalloc: freed blocks wait in size-bucketed lists and are
// handed out again, because cudaMalloc/cudaFree synchronise the device and cost far more
// than a decode step can afford. All work runs on one stream, so a block freed by the host
// and reused by a later launch on that stream is ordered after its last use.
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/tensor.h"

namespace strata::cuda {

class DeviceAllocator : public std::enable_shared_from_this<DeviceAllocator> {
 public:
  explicit DeviceAllocator(int device) : device_(device) {}
  ~DeviceAllocator();
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  // Storage whose keepalive returns the block to this allocator (which it keeps alive).
  std::shared_ptr<Storage> allocate(size_t bytes);

  size_t bytes_in_use() const;
  size_t bytes_cached() const;
  // Returns every cached block to the driver.
  void release_cached();

 private:
  static size_t round_up(size_t bytes);
  void* take(size_t rounded);
  void give_back(void* p, size_t rounded);

  int device_;
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_;  // rounded size -> block
  size_t in_use_ = 0, cached_ = 0;
};

}  // namespace strata::cuda
