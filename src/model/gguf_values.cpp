// GGUFValue helpers, the typed metadata accessors of GGUFFile, the ggml type id mapping
// and the UTF-8 check used by the reader.
#include <array>
#include <limits>

#include "model/gguf.h"
#include "model/gguf_reader.h"

namespace strata {

bool GGUFValue::is_integer() const {
  switch (type) {
    case Type::UInt8: case Type::Int8: case Type::UInt16: case Type::Int16:
    case Type::UInt32: case Type::Int32: case Type::UInt64: case Type::Int64:
      return true;
    default:
      return false;
  }
}

bool GGUFValue::is_number() const {
  return is_integer() || type == Type::Float32 || type == Type::Float64;
}

std::string_view gguf_value_type_name(GGUFValue::Type type) {
  static constexpr std::array<std::string_view, 13> kNames = {
      "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
      "bool", "string", "array", "uint64", "int64", "float64"};
  const auto index = static_cast<size_t>(type);
  return index < kNames.size() ? kNames[index] : std::string_view("unknown");
}

namespace {
struct GGMLTypeId {
  uint32_t id;
  DType dtype;
};
constexpr std::array<GGMLTypeId, 12> kGGMLTypes = {{
    {0, DType::F32}, {1, DType::F16}, {2, DType::Q4_0}, {3, DType::Q4_1},
    {6, DType::Q5_0}, {7, DType::Q5_1}, {8, DType::Q8_0}, {12, DType::Q4_K},
    {13, DType::Q5_K}, {14, DType::Q6_K}, {26, DType::I32}, {30, DType::BF16},
}};
}  // namespace

std::optional<DType> dtype_from_gguf_type(uint32_t ggml_type) {
  for (const auto& t : kGGMLTypes)
    if (t.id == ggml_type) return t.dtype;
  return std::nullopt;
}

uint32_t gguf_type_of(DType dtype) {
  for (const auto& t : kGGMLTypes)
    if (t.dtype == dtype) return t.id;
  throw Error("dtype " + std::string(dtype_name(dtype)) + " has no GGUF type id");
}

bool is_valid_utf8(std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) { ++i; continue; }
    size_t extra = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) { extra = 1; cp = c & 0x1Fu; }
    else if (c >= 0xE0 && c <= 0xEF) { extra = 2; cp = c & 0x0Fu; }
    else if (c >= 0xF0 && c <= 0xF4) { extra = 3; cp = c & 0x07u; }
    else return false;
    if (n - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    // Overlong three- and four-byte forms, UTF-16 surrogates, beyond U+10FFFF.
    if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000)) return false;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
    i += extra + 1;
  }
  return true;
}

// ---- GGUFFile accessors -------------------------------------------------------------

const GGUFValue* GGUFFile::find(std::string_view key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const GGUFTensorInfo* GGUFFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t GGUFFile::key_offset(std::string_view key) const {
  auto it = key_offsets_.find(key);
  return it == key_offsets_.end() ? 0 : it->second;
}

[[noreturn]] void GGUFFile::wrong_type(std::string_view key, const GGUFValue& v,
                                       std::string_view expected) const {
  std::string got(gguf_value_type_name(v.type));
  if (v.type == GGUFValue::Type::Array)
    got += " of " + std::string(gguf_value_type_name(std::get<GGUFValue::Array>(v.value).element_type));
  throw FileFormatError(path_, key_offset(key), "metadata key '" + std::string(key) +
                                                    "': expected " + std::string(expected) + ", got " + got);
}

const GGUFValue& GGUFFile::require(std::string_view key) const {
  const GGUFValue* v = find(key);
  if (v == nullptr) throw FileFormatError(path_, 0, "missing metadata key '" + std::string(key) + "'");
  return *v;
}

namespace {
std::optional<int64_t> as_int(const GGUFValue& v) {
  if (const auto* u = std::get_if<uint64_t>(&v.value)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&v.value)) return *i;
  return std::nullopt;
}

double as_double(const GGUFValue& v) {
  if (const auto* u = std::get_if<uint64_t>(&v.value)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&v.value)) return static_cast<double>(*i);
  return std::get<double>(v.value);
}
}  // namespace

int64_t GGUFFile::int_of(std::string_view key, const GGUFValue& v) const {
  if (!v.is_integer()) wrong_type(key, v, "an integer");
  auto i = as_int(v);
  if (!i) wrong_type(key, v, "an integer that fits in int64");
  return *i;
}

double GGUFFile::float_of(std::string_view key, const GGUFValue& v) const {
  if (!v.is_number()) wrong_type(key, v, "a number");
  return as_double(v);
}

std::string GGUFFile::get_string(std::string_view key) const {
  const GGUFValue& v = require(key);
  if (v.type != GGUFValue::Type::String) wrong_type(key, v, "a string");
  return std::get<std::string>(v.value);
}

int64_t GGUFFile::get_int(std::string_view key) const { return int_of(key, require(key)); }
double GGUFFile::get_float(std::string_view key) const { return float_of(key, require(key)); }

bool GGUFFile::get_bool(std::string_view key) const {
  const GGUFValue& v = require(key);
  if (v.type != GGUFValue::Type::Bool) wrong_type(key, v, "a bool");
  return std::get<bool>(v.value);
}

const GGUFValue::Array& GGUFFile::array_of(std::string_view key, const GGUFValue& v,
                                           std::string_view expected) const {
  if (v.type != GGUFValue::Type::Array) wrong_type(key, v, expected);
  return std::get<GGUFValue::Array>(v.value);
}

std::vector<std::string> GGUFFile::get_string_array(std::string_view key) const {
  const GGUFValue& v = require(key);
  const auto& array = array_of(key, v, "an array of strings");
  if (array.element_type != GGUFValue::Type::String) wrong_type(key, v, "an array of strings");
  std::vector<std::string> out;
  out.reserve(array.items.size());
  for (const auto& item : array.items) out.push_back(std::get<std::string>(item.value));
  return out;
}

std::vector<int64_t> GGUFFile::get_int_array(std::string_view key) const {
  const GGUFValue& v = require(key);
  const auto& array = array_of(key, v, "an array of integers");
  std::vector<int64_t> out;
  out.reserve(array.items.size());
  for (const auto& item : array.items) {
    if (!item.is_integer()) wrong_type(key, v, "an array of integers");
    auto i = as_int(item);
    if (!i) wrong_type(key, v, "an array of integers that fit in int64");
    out.push_back(*i);
  }
  return out;
}

std::vector<double> GGUFFile::get_float_array(std::string_view key) const {
  const GGUFValue& v = require(key);
  const auto& array = array_of(key, v, "an array of numbers");
  std::vector<double> out;
  out.reserve(array.items.size());
  for (const auto& item : array.items) {
    if (!item.is_number()) wrong_type(key, v, "an array of numbers");
    out.push_back(as_double(item));
  }
  return out;
}

std::optional<std::string> GGUFFile::try_string(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return get_string(key);
}
std::optional<int64_t> GGUFFile::try_int(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return get_int(key);
}
std::optional<double> GGUFFile::try_float(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return get_float(key);
}
std::optional<bool> GGUFFile::try_bool(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return get_bool(key);
}

Tensor GGUFFile::tensor(std::string_view name) const {
  const GGUFTensorInfo* info = find_tensor(name);
  if (info == nullptr) throw Error(path_ + ": no tensor named '" + std::string(name) + "'");
  Tensor::Shape shape(info->dims.rbegin(), info->dims.rend());
  return Tensor::view_of(bytes_, static_cast<size_t>(info->data_offset), info->dtype, shape);
}

}  // namespace strata
