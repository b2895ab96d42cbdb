#include "core/tensor.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace strata {

std::shared_ptr<Storage> Storage::allocate_host(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (p == nullptr) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, rounded == 0 ? 64 : rounded);
  return wrap(p, bytes, Device::CPU, std::shared_ptr<void>(p, std::free));
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t bytes, Device device,
                                       std::shared_ptr<void> keepalive) {
  auto s = std::make_shared<Storage>();
  s->data = data;
  s->bytes = bytes;
  s->device = device;
  s->keepalive = std::move(keepalive);
  return s;
}

namespace {
void check_shape(const Tensor::Shape& shape, DType dtype) {
  if (shape.empty() || shape.size() > static_cast<size_t>(Tensor::kMaxDims))
    throw Error("tensor rank must be 1.." + std::to_string(Tensor::kMaxDims));
  for (int64_t d : shape)
    if (d < 0) throw Error("negative tensor dimension");
  if (shape.back() % dtype_info(dtype).block_size != 0)
    throw Error("last dimension " + std::to_string(shape.back()) + " is not a multiple of the " +
                std::string(dtype_name(dtype)) + " block size");
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  Tensor t;
  check_shape(shape, dtype);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  auto storage = Storage::allocate_host(static_cast<size_t>(dtype_row_bytes(dtype, n)));
  return view_of(std::move(storage), 0, dtype, shape);
}

Tensor Tensor::view_of(std::shared_ptr<Storage> storage, size_t byte_offset, DType dtype,
                       const Shape& shape) {
  check_shape(shape, dtype);
  Tensor t;
  t.storage_ = std::move(storage);
  t.byte_offset_ = byte_offset;
  t.dtype_ = dtype;
  t.ndim_ = static_cast<int>(shape.size());
  int64_t stride = 1;
  for (int i = t.ndim_ - 1; i >= 0; --i) {
    t.shape_[static_cast<size_t>(i)] = shape[static_cast<size_t>(i)];
    t.strides_[static_cast<size_t>(i)] = stride;
    stride *= shape[static_cast<size_t>(i)];
  }
  if (byte_offset + t.nbytes() > t.storage_->bytes)
    throw Error("tensor view " + t.describe() + " at byte offset " + std::to_string(byte_offset) +
                " exceeds its storage of " + std::to_string(t.storage_->bytes) + " bytes");
  return t;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= shape_[static_cast<size_t>(i)];
  return n;
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int i = ndim_ - 1; i >= 0; --i) {
    if (shape_[static_cast<size_t>(i)] != 1 && strides_[static_cast<size_t>(i)] != expected) return false;
    expected *= shape_[static_cast<size_t>(i)];
  }
  return true;
}

size_t Tensor::nbytes() const { return static_cast<size_t>(dtype_row_bytes(dtype_, numel())); }

size_t Tensor::element_byte_offset(int64_t element_index) const {
  const auto& info = dtype_info(dtype_);
  return static_cast<size_t>(element_index / info.block_size * info.block_bytes);
}

Tensor Tensor::slice(int dim, int64_t begin, int64_t end) const {
  const int d = norm_dim(dim);
  if (d < 0 || d >= ndim_) throw Error("slice: bad dimension for " + describe());
  if (begin < 0 || end < begin || end > shape_[static_cast<size_t>(d)])
    throw Error("slice [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for " + describe());
  const int64_t block = dtype_info(dtype_).block_size;
  const int64_t step = strides_[static_cast<size_t>(d)];
  if (block > 1 && ((begin * step) % block != 0 || (d == ndim_ - 1 && (end - begin) % block != 0)))
    throw Error("slice of " + describe() + " does not fall on quantization block boundaries");
  Tensor t = *this;
  t.byte_offset_ += element_byte_offset(begin * step);
  t.shape_[static_cast<size_t>(d)] = end - begin;
  return t;
}

Tensor Tensor::select(int dim, int64_t index) const {
  const int d = norm_dim(dim);
  if (ndim_ == 1) throw Error("select on a rank-1 tensor; use slice");
  Tensor t = slice(d, index, index + 1);
  for (int i = d; i < ndim_ - 1; ++i) {
    t.shape_[static_cast<size_t>(i)] = t.shape_[static_cast<size_t>(i + 1)];
    t.strides_[static_cast<size_t>(i)] = t.strides_[static_cast<size_t>(i + 1)];
  }
  t.ndim_ -= 1;
  return t;
}

Tensor Tensor::transpose(int dim0, int dim1) const {
  const int a = norm_dim(dim0), b = norm_dim(dim1);
  if (a < 0 || b < 0 || a >= ndim_ || b >= ndim_) throw Error("transpose: bad dimensions for " + describe());
  if (dtype_info(dtype_).quantized && (a == ndim_ - 1 || b == ndim_ - 1) && a != b)
    throw Error("cannot transpose the last dimension of quantized tensor " + describe());
  Tensor t = *this;
  std::swap(t.shape_[static_cast<size_t>(a)], t.shape_[static_cast<size_t>(b)]);
  std::swap(t.strides_[static_cast<size_t>(a)], t.strides_[static_cast<size_t>(b)]);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (!is_contiguous()) throw Error("reshape of non-contiguous " + describe() + "; call contiguous() first");
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (n != numel()) throw Error("reshape of " + describe() + " to a shape with " + std::to_string(n) + " elements");
  return view_of(storage_, byte_offset_, dtype_, shape);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  if (device() != Device::CPU) throw Error("contiguous() of a device tensor needs its backend");
  if (dtype_info(dtype_).quantized) {
    // Last dimension is dense: copy whole rows.
    Tensor out = empty(shape(), dtype_);
    const int64_t row = shape_[static_cast<size_t>(ndim_ - 1)];
    const size_t row_bytes = static_cast<size_t>(dtype_row_bytes(dtype_, row));
    const int64_t rows = numel() / (row == 0 ? 1 : row);
    char* dst = out.data<char>();
    for (int64_t r = 0; r < rows; ++r) {
      int64_t rem = r, elem = 0;
      for (int i = ndim_ - 2; i >= 0; --i) {
        elem += (rem % shape_[static_cast<size_t>(i)]) * strides_[static_cast<size_t>(i)];
        rem /= shape_[static_cast<size_t>(i)];
      }
      std::memcpy(dst + static_cast<size_t>(r) * row_bytes,
                  static_cast<const char*>(raw_data()) + element_byte_offset(elem), row_bytes);
    }
    return out;
  }
  Tensor out = empty(shape(), dtype_);
  const size_t esize = static_cast<size_t>(dtype_info(dtype_).block_bytes);
  const int64_t n = numel();
  char* dst = out.data<char>();
  const char* src = static_cast<const char*>(raw_data());
  for (int64_t e = 0; e < n; ++e) {
    int64_t rem = e, off = 0;
    for (int i = ndim_ - 1; i >= 0; --i) {
      off += (rem % shape_[static_cast<size_t>(i)]) * strides_[static_cast<size_t>(i)];
      rem /= shape_[static_cast<size_t>(i)];
    }
    std::memcpy(dst + static_cast<size_t>(e) * esize, src + static_cast<size_t>(off) * esize, esize);
  }
  return out;
}

std::string Tensor::describe() const {
  std::string s(dtype_name(dtype_));
  s += "[";
  for (int i = 0; i < ndim_; ++i) {
    if (i) s += ", ";
    s += std::to_string(shape_[static_cast<size_t>(i)]);
  }
  return s + "]";
}

}  // namespace strata
