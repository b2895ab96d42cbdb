#pragma once
// GGUF v2/v3 reader: parses the header, metadata and tensor infos with every length and
// offset checked against the file, then exposes tensors as zero-copy views over a
// read-only memory mapping. Any malformation throws FileFormatError naming the path,
// the byte offset and the key or tensor.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/tensor.h"

namespace strata {

// A metadata value. Arrays hold values of one element type (possibly nested arrays).
struct GGUFValue {
  enum class Type : uint32_t {
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6,
    Bool = 7, String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
  };
  struct Array {
    Type element_type = Type::UInt8;
    std::vector<GGUFValue> items;
  };
  Type type = Type::UInt8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> value;

  bool is_integer() const;
  bool is_number() const;
};

struct GGUFTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // GGUF order: dims[0] is the fastest-varying (row length)
  DType dtype = DType::F32;
  uint64_t data_offset = 0;   // absolute offset in the file
  uint64_t nbytes = 0;
};

class GGUFFile {
 public:
  static std::shared_ptr<GGUFFile> open(const std::string& path);
  // Parses from memory (tests); `name` stands in for the path in errors.
  static std::shared_ptr<GGUFFile> from_memory(std::shared_ptr<Storage> bytes, const std::string& name);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }

  const std::map<std::string, GGUFValue, std::less<>>& metadata() const { return metadata_; }
  const GGUFValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed accessors: throw FileFormatError naming the key if missing or of the wrong type.
  std::string get_string(std::string_view key) const;
  int64_t get_int(std::string_view key) const;   // any integer type
  double get_float(std::string_view key) const;  // any number type
  bool get_bool(std::string_view key) const;
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<int64_t> get_int_array(std::string_view key) const;
  std::vector<double> get_float_array(std::string_view key) const;
  // Optional variants: nullopt when missing, still throw on a wrong type.
  std::optional<std::string> try_string(std::string_view key) const;
  std::optional<int64_t> try_int(std::string_view key) const;
  std::optional<double> try_float(std::string_view key) const;
  std::optional<bool> try_bool(std::string_view key) const;

  const std::vector<GGUFTensorInfo>& tensor_infos() const { return tensors_; }
  const GGUFTensorInfo* find_tensor(std::string_view name) const;
  // A zero-copy view; shape in row-major order (reversed GGUF dims), e.g. a GGUF weight
  // with dims [K, N] becomes Tensor shape [N, K].
  Tensor tensor(std::string_view name) const;

 private:
  GGUFFile() = default;
  void parse();
  uint64_t key_offset(std::string_view key) const;  // where the key's entry starts (0 if unknown)
  const GGUFValue& require(std::string_view key) const;
  [[noreturn]] void wrong_type(std::string_view key, const GGUFValue& v, std::string_view expected) const;
  int64_t int_of(std::string_view key, const GGUFValue& v) const;
  double float_of(std::string_view key, const GGUFValue& v) const;
  const GGUFValue::Array& array_of(std::string_view key, const GGUFValue& v,
                                   std::string_view expected) const;

  std::string path_;
  std::shared_ptr<Storage> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, GGUFValue, std::less<>> metadata_;
  std::vector<GGUFTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  std::map<std::string, uint64_t, std::less<>> key_offsets_;
};

// "uint32", "string", "array", ... for messages and dumps.
std::string_view gguf_value_type_name(GGUFValue::Type type);

// GGUF tensor type ids <-> DType (nullopt for ids Strata does not support).
std::optional<DType> dtype_from_gguf_type(uint32_t ggml_type);
uint32_t gguf_type_of(DType dtype);

}  // namespace strata
