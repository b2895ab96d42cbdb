#include "model/gguf_writer.h"

#include <bit>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace strata {

namespace {
using Type = GGUFValue::Type;

GGUFValue make(Type type, decltype(GGUFValue::value) value) {
  GGUFValue v;
  v.type = type;
  v.value = std::move(value);
  return v;
}

class ByteSink {
 public:
  explicit ByteSink(std::vector<uint8_t>& out) : out_(out) {}
  template <typename T>
  void put(T value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void pad_to(uint64_t alignment) {
    while (out_.size() % alignment != 0) out_.push_back(0);
  }

 private:
  std::vector<uint8_t>& out_;
};

// Numbers may be stored in any of the numeric alternatives; convert on the way out.
template <typename T>
T numeric(const GGUFValue& v) {
  if (const auto* u = std::get_if<uint64_t>(&v.value)) return static_cast<T>(*u);
  if (const auto* i = std::get_if<int64_t>(&v.value)) return static_cast<T>(*i);
  if (const auto* d = std::get_if<double>(&v.value)) return static_cast<T>(*d);
  if (const auto* b = std::get_if<bool>(&v.value)) return static_cast<T>(*b);
  throw Error("GGUFWriter: value of type " + std::string(gguf_value_type_name(v.type)) + " holds no number");
}

void put_value(ByteSink& sink, const GGUFValue& v) {
  switch (v.type) {
    case Type::UInt8: sink.put(numeric<uint8_t>(v)); return;
    case Type::Int8: sink.put(numeric<int8_t>(v)); return;
    case Type::UInt16: sink.put(numeric<uint16_t>(v)); return;
    case Type::Int16: sink.put(numeric<int16_t>(v)); return;
    case Type::UInt32: sink.put(numeric<uint32_t>(v)); return;
    case Type::Int32: sink.put(numeric<int32_t>(v)); return;
    case Type::UInt64: sink.put(numeric<uint64_t>(v)); return;
    case Type::Int64: sink.put(numeric<int64_t>(v)); return;
    case Type::Float32: sink.put(numeric<float>(v)); return;
    case Type::Float64: sink.put(numeric<double>(v)); return;
    case Type::Bool: sink.put(numeric<uint8_t>(v)); return;
    case Type::String: sink.put_string(std::get<std::string>(v.value)); return;
    case Type::Array: {
      const auto& array = std::get<GGUFValue::Array>(v.value);
      sink.put(static_cast<uint32_t>(array.element_type));
      sink.put<uint64_t>(array.items.size());
      for (const auto& item : array.items) put_value(sink, item);
      return;
    }
  }
  // An out-of-range type (a test building a broken file) is written with no payload.
}

template <typename T>
std::vector<GGUFValue> items_of(Type type, const std::vector<T>& values) {
  std::vector<GGUFValue> items;
  items.reserve(values.size());
  for (const T& x : values) {
    if constexpr (std::is_same_v<T, std::string>) items.push_back(gguf_string(x));
    else if constexpr (std::is_floating_point_v<T>) items.push_back(gguf_float(type, x));
    else items.push_back(gguf_int(type, x));
  }
  return items;
}
}  // namespace

GGUFValue gguf_uint(Type type, uint64_t v) { return make(type, v); }
GGUFValue gguf_int(Type type, int64_t v) { return make(type, v); }
GGUFValue gguf_float(Type type, double v) { return make(type, v); }
GGUFValue gguf_bool(bool v) { return make(Type::Bool, v); }
GGUFValue gguf_string(std::string v) { return make(Type::String, std::move(v)); }
GGUFValue gguf_array(Type element_type, std::vector<GGUFValue> items) {
  return make(Type::Array, GGUFValue::Array{element_type, std::move(items)});
}

void GGUFWriter::set_alignment(uint64_t alignment) {
  alignment_ = alignment;
  add_uint32("general.alignment", static_cast<uint32_t>(alignment));
}

void GGUFWriter::add(std::string key, GGUFValue value) { metadata_.emplace_back(std::move(key), std::move(value)); }

void GGUFWriter::add_string_array(std::string key, const std::vector<std::string>& values) {
  add(std::move(key), gguf_array(Type::String, items_of(Type::String, values)));
}
void GGUFWriter::add_int32_array(std::string key, const std::vector<int32_t>& values) {
  add(std::move(key), gguf_array(Type::Int32, items_of(Type::Int32, values)));
}
void GGUFWriter::add_int64_array(std::string key, const std::vector<int64_t>& values) {
  add(std::move(key), gguf_array(Type::Int64, items_of(Type::Int64, values)));
}
void GGUFWriter::add_float32_array(std::string key, const std::vector<float>& values) {
  add(std::move(key), gguf_array(Type::Float32, items_of(Type::Float32, values)));
}

void GGUFWriter::add_tensor(std::string name, DType dtype, const std::vector<int64_t>& shape,
                            std::span<const uint8_t> data) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (shape.empty() || static_cast<int64_t>(data.size()) != dtype_row_bytes(dtype, numel))
    throw InvalidArgument("data", "GGUFWriter: tensor '" + name + "' has " + std::to_string(data.size()) +
                                      " bytes, expected " + std::to_string(dtype_row_bytes(dtype, numel)));
  TensorEntry entry;
  entry.info.name = std::move(name);
  for (auto it = shape.rbegin(); it != shape.rend(); ++it) entry.info.dims.push_back(static_cast<uint64_t>(*it));
  entry.info.type_id = gguf_type_of(dtype);
  entry.data.assign(data.begin(), data.end());
  entry.has_data = true;
  entry.data_bytes = data.size();
  tensors_.push_back(std::move(entry));
}

void GGUFWriter::add_deferred_tensor(std::string name, DType dtype, const std::vector<int64_t>& shape) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (shape.empty()) throw InvalidArgument("shape", "GGUFWriter: tensor '" + name + "' has no dimensions");
  TensorEntry entry;
  entry.info.name = std::move(name);
  for (auto it = shape.rbegin(); it != shape.rend(); ++it) entry.info.dims.push_back(static_cast<uint64_t>(*it));
  entry.info.type_id = gguf_type_of(dtype);
  entry.has_data = true;
  entry.deferred = true;
  entry.data_bytes = static_cast<uint64_t>(dtype_row_bytes(dtype, numel));
  tensors_.push_back(std::move(entry));
}

void GGUFWriter::add_raw_tensor_info(RawTensorInfo info) {
  tensors_.push_back(TensorEntry{std::move(info), {}, false});
}

// Assigns each tensor with data the next aligned offset in the data section.
std::vector<GGUFWriter::TensorEntry> GGUFWriter::laid_out_tensors() const {
  std::vector<TensorEntry> entries = tensors_;
  uint64_t next = 0;
  for (auto& e : entries) {
    if (!e.has_data) continue;
    e.info.offset = next;
    next = (next + e.data_bytes + alignment_ - 1) / alignment_ * alignment_;
  }
  return entries;
}

std::vector<uint8_t> GGUFWriter::header_bytes(const std::vector<TensorEntry>& entries) const {
  if (!std::has_single_bit(alignment_)) throw InvalidArgument("alignment", "GGUFWriter: alignment must be a power of two");
  std::vector<uint8_t> out;
  ByteSink sink(out);
  sink.put<uint32_t>(0x46554747);  // "GGUF"
  sink.put<uint32_t>(3);
  sink.put<uint64_t>(entries.size());
  sink.put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    sink.put_string(key);
    sink.put(static_cast<uint32_t>(value.type));
    put_value(sink, value);
  }
  for (const auto& e : entries) {
    sink.put_string(e.info.name);
    sink.put(static_cast<uint32_t>(e.info.dims.size()));
    for (uint64_t d : e.info.dims) sink.put(d);
    sink.put(e.info.type_id);
    sink.put(e.info.offset);
  }
  sink.pad_to(alignment_);
  return out;
}

std::vector<uint8_t> GGUFWriter::to_bytes() const {
  const auto entries = laid_out_tensors();
  std::vector<uint8_t> out = header_bytes(entries);
  ByteSink sink(out);
  const size_t data_start = out.size();
  for (const auto& e : entries) {
    if (!e.has_data) continue;
    if (e.deferred) throw Error("GGUFWriter: tensor '" + e.info.name + "' is deferred: use write_streaming");
    out.resize(data_start + e.info.offset);
    out.insert(out.end(), e.data.begin(), e.data.end());
  }
  sink.pad_to(alignment_);
  return out;
}

void GGUFWriter::write_streaming(const std::string& path,
                                 const std::function<std::vector<uint8_t>(size_t)>& produce) const {
  const auto entries = laid_out_tensors();
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw Error(path + ": cannot open for writing");
  const auto put = [&](const void* data, size_t n) {
    file.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    if (!file) throw Error(path + ": write failed");
  };
  const std::vector<uint8_t> header = header_bytes(entries);
  put(header.data(), header.size());
  const std::vector<uint8_t> zeros(alignment_, 0);
  uint64_t written = 0;  // bytes of the data section so far
  size_t deferred_index = 0;
  for (const auto& e : entries) {
    if (!e.has_data) continue;
    put(zeros.data(), e.info.offset - written);
    const std::vector<uint8_t> produced = e.deferred ? produce(deferred_index++) : std::vector<uint8_t>{};
    const std::vector<uint8_t>& bytes = e.deferred ? produced : e.data;
    if (bytes.size() != e.data_bytes)
      throw Error("GGUFWriter: tensor '" + e.info.name + "' produced " + std::to_string(bytes.size()) +
                  " bytes, expected " + std::to_string(e.data_bytes));
    put(bytes.data(), bytes.size());
    written = e.info.offset + bytes.size();
  }
  put(zeros.data(), (alignment_ - (header.size() + written) % alignment_) % alignment_);
}

void GGUFWriter::write(const std::string& path) const {
  const auto bytes = to_bytes();
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw Error(path + ": cannot open for writing");
  file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!file) throw Error(path + ": write failed");
}

}  // namespace strata
