#pragma once
// std::vector whose data starts on a 64-byte boundary (a cache line). Kernels load 32-byte
// vectors from such buffers; from malloc's 16-byte alignment every other load would
// straddle two cache lines and cost two.
#include <cstddef>
#include <new>
#include <vector>

namespace strata {

template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlignment{64};

  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlignment)); }
  // The unsized form: clang (before 19) leaves sized deallocation off by default, so the
  // sized aligned operator delete does not exist in the sanitizer build.
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, kAlignment); }

  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept { return true; }
};

template <typename T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace strata
