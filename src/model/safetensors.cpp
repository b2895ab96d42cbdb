// Parsing of one safetensors file. Every entry of the JSON header is checked against the
// file before any view is made: dtype known, shape sane, data_offsets in range, sized
// exactly for the shape, and not overlapping another tensor.
#include "model/safetensors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <set>

#include "model/mapped_file.h"

namespace strata {

namespace {

constexpr uint64_t kHeaderLengthBytes = 8;

struct SafetensorsDType {
  std::string_view name;
  uint64_t element_bytes;
  std::optional<DType> dtype;  // nullopt: known to safetensors, not loaded by Strata
};

constexpr std::array<SafetensorsDType, 15> kDTypes = {{
    {"F32", 4, DType::F32}, {"F16", 2, DType::F16}, {"BF16", 2, DType::BF16}, {"I32", 4, DType::I32},
    {"F64", 8, std::nullopt}, {"I64", 8, std::nullopt}, {"U64", 8, std::nullopt},
    {"U32", 4, std::nullopt}, {"I16", 2, std::nullopt}, {"U16", 2, std::nullopt},
    {"I8", 1, std::nullopt}, {"U8", 1, std::nullopt}, {"BOOL", 1, std::nullopt},
    {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
}};

const SafetensorsDType* find_dtype(std::string_view name) {
  for (const auto& d : kDTypes)
    if (d.name == name) return &d;
  return nullptr;
}

std::string single_quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Parses the header, rejecting duplicate top-level keys (nlohmann would keep the last).
nlohmann::json parse_header(const std::string& path, std::string_view text) {
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && duplicate.empty() &&
        !seen.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text.begin(), text.end(), on_event);
  } catch (const nlohmann::json::exception& e) {
    throw FileFormatError(path, kHeaderLengthBytes, std::string("header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty())
    throw FileFormatError(path, kHeaderLengthBytes, "duplicate tensor name " + single_quoted(duplicate) + " in the header");
  if (!header.is_object())
    throw FileFormatError(path, kHeaderLengthBytes, std::string("header is not a JSON object but ") + header.type_name());
  return header;
}

std::optional<uint64_t> as_unsigned(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

}  // namespace

std::string_view safetensors_dtype_name(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  throw Error("dtype " + std::string(dtype_name(dtype)) + " cannot be stored in safetensors");
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  return from_memory(map_file_readonly(path), path);
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::from_memory(std::shared_ptr<Storage> bytes, const std::string& name) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = name;
  file->bytes_ = std::move(bytes);
  file->parse();
  return file;
}

void SafetensorsFile::parse() {
  const uint64_t size = bytes_->bytes;
  const auto* data = static_cast<const char*>(bytes_->data);
  if (size < kHeaderLengthBytes)
    throw FileFormatError(path_, 0, "file truncated: " + std::to_string(size) + " bytes, need 8 for the header length");
  uint64_t header_length = 0;
  std::memcpy(&header_length, data, sizeof(header_length));
  if (header_length > size - kHeaderLengthBytes)
    throw FileFormatError(path_, 0, "header length " + std::to_string(header_length) +
                                        " extends beyond the end of the file (" + std::to_string(size) + " bytes)");
  const nlohmann::json header = parse_header(path_, std::string_view(data + kHeaderLengthBytes, header_length));
  const uint64_t data_start = kHeaderLengthBytes + header_length;
  for (const auto& [name, entry] : header.items()) {
    if (name != "__metadata__") {
      parse_entry(name, entry, data_start);
      continue;
    }
    if (!entry.is_object()) throw FileFormatError(path_, kHeaderLengthBytes, "__metadata__ is not an object");
    for (const auto& [key, value] : entry.items()) {
      if (!value.is_string())
        throw FileFormatError(path_, kHeaderLengthBytes, "__metadata__ " + single_quoted(key) + " is not a string");
      metadata_[key] = value.get<std::string>();
    }
  }
  check_overlaps();
}

void SafetensorsFile::parse_entry(const std::string& name, const nlohmann::json& entry, uint64_t data_start) {
  auto fail = [&](const std::string& what) -> void {
    throw FileFormatError(path_, kHeaderLengthBytes, "tensor " + single_quoted(name) + ": " + what);
  };
  if (!entry.is_object()) fail("entry is not an object");
  if (!entry.contains("dtype") || !entry["dtype"].is_string()) fail("missing or non-string \"dtype\"");
  if (!entry.contains("shape") || !entry["shape"].is_array()) fail("missing or non-array \"shape\"");
  if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2)
    fail("\"data_offsets\" must be an array [begin, end]");
  SafetensorsTensorInfo info;
  info.name = name;
  info.dtype_name = entry["dtype"].get<std::string>();
  const SafetensorsDType* dtype = find_dtype(info.dtype_name);
  if (dtype == nullptr) fail("unknown dtype " + single_quoted(info.dtype_name));
  info.dtype = dtype->dtype;
  const auto& shape = entry["shape"];
  if (shape.size() > static_cast<size_t>(Tensor::kMaxDims))
    fail("rank " + std::to_string(shape.size()) + " exceeds " + std::to_string(Tensor::kMaxDims));
  uint64_t numel = 1;
  for (const auto& d : shape) {
    auto dim = as_unsigned(d);
    if (!dim || *dim > static_cast<uint64_t>(INT64_MAX)) fail("invalid dimension " + d.dump());
    info.shape.push_back(static_cast<int64_t>(*dim));
    if (__builtin_mul_overflow(numel, *dim, &numel) || numel > static_cast<uint64_t>(INT64_MAX))
      fail("element count overflows 64 bits");
  }
  if (__builtin_mul_overflow(numel, dtype->element_bytes, &info.nbytes)) fail("byte size overflows 64 bits");
  auto begin = as_unsigned(entry["data_offsets"][0]), end = as_unsigned(entry["data_offsets"][1]);
  if (!begin || !end) fail("data_offsets must be non-negative integers");
  const uint64_t data_size = bytes_->bytes - data_start;
  if (*begin > *end || *end > data_size)
    fail("data_offsets [" + std::to_string(*begin) + ", " + std::to_string(*end) + ") out of range (data section has " +
         std::to_string(data_size) + " bytes)");
  if (*end - *begin != info.nbytes)
    fail("data_offsets span " + std::to_string(*end - *begin) + " bytes but " + info.dtype_name + " shape " +
         shape.dump() + " needs " + std::to_string(info.nbytes));
  info.data_offset = data_start + *begin;
  tensor_index_.emplace(name, tensors_.size());
  tensors_.push_back(std::move(info));
}

void SafetensorsFile::check_overlaps() const {
  std::vector<const SafetensorsTensorInfo*> order;
  for (const auto& t : tensors_)
    if (t.nbytes > 0) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->data_offset < b->data_offset; });
  for (size_t i = 1; i < order.size(); ++i)
    if (order[i - 1]->data_offset + order[i - 1]->nbytes > order[i]->data_offset)
      throw FileFormatError(path_, order[i]->data_offset, "tensors " + single_quoted(order[i - 1]->name) + " and " +
                                                              single_quoted(order[i]->name) + " overlap");
}

const SafetensorsTensorInfo* SafetensorsFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::vector<std::string> SafetensorsFile::tensor_names() const {
  std::vector<std::string> names;
  for (const auto& t : tensors_) names.push_back(t.name);
  return names;
}

Tensor SafetensorsFile::tensor(std::string_view name) const {
  const SafetensorsTensorInfo* info = find_tensor(name);
  if (info == nullptr) throw Error(path_ + ": no tensor named " + single_quoted(name));
  if (!info->dtype)
    throw FileFormatError(path_, info->data_offset, "tensor " + single_quoted(name) + ": unsupported dtype " +
                                                        info->dtype_name + " (Strata loads F32, F16, BF16 and I32)");
  Tensor::Shape shape = info->shape.empty() ? Tensor::Shape{1} : info->shape;
  return Tensor::view_of(bytes_, static_cast<size_t>(info->data_offset), *info->dtype, shape);
}

}  // namespace strata
