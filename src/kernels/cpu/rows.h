#pragma once
// Row-wise access to f32 tensors whose last dimension is dense: a tensor of rank 1..3 is
// seen as a list of rows of its last dimension, in order, whatever the leading strides.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace strata::cpu {

template <typename T>
class Rows {
 public:
  Rows(T* base, const Tensor& t, const char* op) : base_(base) {
    if (t.ndim() < 1 || t.ndim() > 3 || (t.size(-1) > 1 && t.stride(-1) != 1))
      throw Error(std::string(op) + ": expected a tensor of rank 1..3 with dense rows, got " + t.describe());
    width_ = t.size(-1);
    inner_count_ = t.ndim() == 3 ? t.size(1) : 1;
    count_ = t.ndim() == 1 ? 1 : t.size(0) * inner_count_;
    outer_stride_ = t.ndim() >= 2 ? t.stride(0) : 0;
    inner_stride_ = t.ndim() == 3 ? t.stride(1) : 0;
  }
  int64_t count() const { return count_; }
  int64_t width() const { return width_; }
  T* operator[](int64_t r) const {
    return base_ + (r / inner_count_) * outer_stride_ + (r % inner_count_) * inner_stride_;
  }

 private:
  T* base_;
  int64_t width_ = 0, count_ = 0, inner_count_ = 1, outer_stride_ = 0, inner_stride_ = 0;
};

inline Rows<float> mutable_rows(Tensor& t, const char* op) {
  if (t.dtype() != DType::F32) throw Error(std::string(op) + ": expected f32, got " + t.describe());
  return Rows<float>(t.data<float>(), t, op);
}

inline Rows<const float> const_rows(const Tensor& t, const char* op) {
  if (t.dtype() != DType::F32) throw Error(std::string(op) + ": expected f32, got " + t.describe());
  return Rows<const float>(t.data<float>(), t, op);
}

// Rows per parallel chunk so that each chunk holds about `elements_per_chunk` elements.
inline int64_t rows_grain(int64_t width, int64_t elements_per_chunk = 16384) {
  return width <= 0 ? 1 : (elements_per_chunk + width - 1) / width;
}

// Calls fn(begin, end) over row ranges of [0, count): on this thread when the work is
// small (a parallel region costs microseconds), across the pool otherwise. fn is passed
// by pointer so that std::function needs no allocation.
// serial_elements: the most elements worth doing on one thread (lower for costly ones).
template <typename Fn>
void for_row_ranges(ThreadPool& pool, int64_t count, int64_t width, const Fn& fn, int64_t serial_elements = 16384) {
  if (count * width <= serial_elements || pool.size() == 1) {
    fn(int64_t{0}, count);
    return;
  }
  const Fn* f = &fn;
  pool.parallel_for(count, rows_grain(width, serial_elements), [f](int64_t begin, int64_t end) { (*f)(begin, end); });
}

}  // namespace strata::cpu
