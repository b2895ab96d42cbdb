#pragma once
// A tensor is a view: shape, strides (in elements), dtype and device over shared storage.
// Views (slice, transpose, reshape of contiguous data) never copy; contiguous() copies
// only when the view is not already dense. Quantized tensors keep their last dimension
// dense and whole blocks; their other strides are multiples of the block size.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace strata {

enum class Device : uint8_t { CPU, CUDA };

// The order of a block-quantized weight matrix's blocks in its storage. Rows: GGUF's, row
// after row. Tiles16: the CPU backend's own order for its AVX-512 kernels, 16 rows
// interleaved (kernels/cpu/weight_tiles.h); only whole 2-D weight tensors are kept so.
enum class BlockOrder : uint8_t { Rows, Tiles16 };

// A block of memory and whatever keeps it alive (an aligned allocation, a file mapping,
// a device allocation). Storage is never resized.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
  BlockOrder block_order = BlockOrder::Rows;
  std::shared_ptr<void> keepalive;

  // 64-byte aligned host memory, zero-filled.
  static std::shared_ptr<Storage> allocate_host(size_t bytes);
  static std::shared_ptr<Storage> wrap(void* data, size_t bytes, Device device,
                                       std::shared_ptr<void> keepalive);
};

class Tensor {
 public:
  static constexpr int kMaxDims = 4;
  using Shape = std::vector<int64_t>;

  Tensor() = default;
  // A new dense host tensor, zero-filled.
  static Tensor empty(const Shape& shape, DType dtype);
  // A dense view over existing storage starting at byte_offset (checked against storage size).
  static Tensor view_of(std::shared_ptr<Storage> storage, size_t byte_offset, DType dtype,
                        const Shape& shape);

  bool defined() const { return storage_ != nullptr; }
  int ndim() const { return ndim_; }
  int64_t size(int dim) const { return shape_[static_cast<size_t>(norm_dim(dim))]; }
  int64_t stride(int dim) const { return strides_[static_cast<size_t>(norm_dim(dim))]; }
  Shape shape() const { return Shape(shape_.begin(), shape_.begin() + ndim_); }
  int64_t numel() const;
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device : Device::CPU; }
  BlockOrder block_order() const { return storage_ ? storage_->block_order : BlockOrder::Rows; }
  size_t byte_offset() const { return byte_offset_; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool is_contiguous() const;
  // Bytes spanned by a dense tensor of this shape and dtype.
  size_t nbytes() const;

  void* raw_data() { return static_cast<char*>(storage_->data) + byte_offset_; }
  const void* raw_data() const { return static_cast<const char*>(storage_->data) + byte_offset_; }
  template <typename T> T* data() { return static_cast<T*>(raw_data()); }
  template <typename T> const T* data() const { return static_cast<const T*>(raw_data()); }

  // Views.
  Tensor slice(int dim, int64_t begin, int64_t end) const;
  Tensor select(int dim, int64_t index) const;  // drops `dim`
  Tensor transpose(int dim0, int dim1) const;
  Tensor reshape(const Shape& shape) const;  // requires a contiguous tensor
  Tensor contiguous() const;                 // a dense copy unless already dense (host only)

  std::string describe() const;  // "q4_1[576, 1536]" for error messages

 private:
  int norm_dim(int dim) const { return dim < 0 ? dim + ndim_ : dim; }
  size_t element_byte_offset(int64_t element_index) const;

  std::shared_ptr<Storage> storage_;
  size_t byte_offset_ = 0;
  DType dtype_ = DType::F32;
  int ndim_ = 0;
  std::array<int64_t, kMaxDims> shape_{};
  std::array<int64_t, kMaxDims> strides_{};
};

}  // namespace strata
