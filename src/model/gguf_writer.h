#pragma once
// Writes GGUF v3 files: metadata in the order added, tensor infos, then the tensor data,
// each tensor aligned. Used by `strata make-model` and by tests, which also use it to
// build deliberately broken files (it writes duplicates and raw infos as given).
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "model/gguf.h"

namespace strata {

// Value constructors for GGUFWriter::add (and for nested arrays).
GGUFValue gguf_uint(GGUFValue::Type type, uint64_t v);   // UInt8..UInt64
GGUFValue gguf_int(GGUFValue::Type type, int64_t v);     // Int8..Int64
GGUFValue gguf_float(GGUFValue::Type type, double v);    // Float32 / Float64
GGUFValue gguf_bool(bool v);
GGUFValue gguf_string(std::string v);
GGUFValue gguf_array(GGUFValue::Type element_type, std::vector<GGUFValue> items);

class GGUFWriter {
 public:
  // A tensor info written verbatim, with no data behind it (for malformed-file tests).
  struct RawTensorInfo {
    std::string name;
    std::vector<uint64_t> dims;  // GGUF order
    uint32_t type_id = 0;
    uint64_t offset = 0;         // relative to the data section
  };

  GGUFWriter() = default;
  // Records `general.alignment` and lays the data out with it (default 32).
  void set_alignment(uint64_t alignment);

  void add(std::string key, GGUFValue value);
  void add_uint8(std::string key, uint8_t v) { add(std::move(key), gguf_uint(GGUFValue::Type::UInt8, v)); }
  void add_int8(std::string key, int8_t v) { add(std::move(key), gguf_int(GGUFValue::Type::Int8, v)); }
  void add_uint16(std::string key, uint16_t v) { add(std::move(key), gguf_uint(GGUFValue::Type::UInt16, v)); }
  void add_int16(std::string key, int16_t v) { add(std::move(key), gguf_int(GGUFValue::Type::Int16, v)); }
  void add_uint32(std::string key, uint32_t v) { add(std::move(key), gguf_uint(GGUFValue::Type::UInt32, v)); }
  void add_int32(std::string key, int32_t v) { add(std::move(key), gguf_int(GGUFValue::Type::Int32, v)); }
  void add_uint64(std::string key, uint64_t v) { add(std::move(key), gguf_uint(GGUFValue::Type::UInt64, v)); }
  void add_int64(std::string key, int64_t v) { add(std::move(key), gguf_int(GGUFValue::Type::Int64, v)); }
  void add_float32(std::string key, float v) { add(std::move(key), gguf_float(GGUFValue::Type::Float32, v)); }
  void add_float64(std::string key, double v) { add(std::move(key), gguf_float(GGUFValue::Type::Float64, v)); }
  void add_bool(std::string key, bool v) { add(std::move(key), gguf_bool(v)); }
  void add_string(std::string key, std::string v) { add(std::move(key), gguf_string(std::move(v))); }
  void add_string_array(std::string key, const std::vector<std::string>& values);
  void add_int32_array(std::string key, const std::vector<int32_t>& values);
  void add_int64_array(std::string key, const std::vector<int64_t>& values);
  void add_float32_array(std::string key, const std::vector<float>& values);

  // `shape` is row-major (the Tensor shape); `data` must hold exactly its bytes.
  void add_tensor(std::string name, DType dtype, const std::vector<int64_t>& shape,
                  std::span<const uint8_t> data);
  void add_raw_tensor_info(RawTensorInfo info);
  // Declares a tensor whose bytes are produced only while write_streaming() writes them,
  // so that a file of many gigabytes never sits in memory whole.
  void add_deferred_tensor(std::string name, DType dtype, const std::vector<int64_t>& shape);

  std::vector<uint8_t> to_bytes() const;  // every tensor must have its data
  void write(const std::string& path) const;
  // Writes the file, calling produce(i) in order for the bytes of the i-th deferred tensor.
  void write_streaming(const std::string& path, const std::function<std::vector<uint8_t>(size_t)>& produce) const;

 private:
  struct TensorEntry {
    RawTensorInfo info;
    std::vector<uint8_t> data;  // empty for raw infos and deferred tensors
    bool has_data = false;
    bool deferred = false;
    uint64_t data_bytes = 0;  // size of the data, deferred or not
  };
  std::vector<TensorEntry> laid_out_tensors() const;
  // Everything before the data section, padded to the alignment.
  std::vector<uint8_t> header_bytes(const std::vector<TensorEntry>& entries) const;

  uint64_t alignment_ = 32;
  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::vector<TensorEntry> tensors_;
};

}  // namespace strata
