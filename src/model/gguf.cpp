// GGUF v2/v3 parsing. Layout: magic "GGUF", u32 version, u64 tensor count, u64 metadata
// count, the metadata entries, the tensor infos, padding to `general.alignment`, then the
// tensor data. Every length and count is checked against the bytes left before use.
#include "model/gguf.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "model/gguf_reader.h"
#include "model/mapped_file.h"

namespace strata {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr int kMaxArrayDepth = 8;
// Smallest possible encodings, used to bound counts before reserving memory.
constexpr uint64_t kMinMetadataEntryBytes = 8 + 4 + 1;       // key length, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, 1 dim, type, offset

uint64_t min_value_bytes(GGUFValue::Type type) {
  using T = GGUFValue::Type;
  switch (type) {
    case T::UInt8: case T::Int8: case T::Bool: return 1;
    case T::UInt16: case T::Int16: return 2;
    case T::UInt32: case T::Int32: case T::Float32: return 4;
    case T::UInt64: case T::Int64: case T::Float64: return 8;
    case T::String: return 8;      // the length
    case T::Array: return 4 + 8;   // element type and count
  }
  return 1;
}

std::string single_quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

GGUFValue::Type read_value_type(BoundedReader& r, const std::string& context) {
  const uint64_t at = r.offset();
  const auto raw = r.read<uint32_t>(context + " value type");
  if (raw > static_cast<uint32_t>(GGUFValue::Type::Float64))
    r.fail_at(at, context + ": unknown metadata value type " + std::to_string(raw));
  return static_cast<GGUFValue::Type>(raw);
}

template <typename Stored, typename Raw>
GGUFValue scalar(BoundedReader& r, GGUFValue::Type type, const std::string& context) {
  GGUFValue v;
  v.type = type;
  v.value = static_cast<Stored>(r.read<Raw>(context));
  return v;
}

GGUFValue read_value(BoundedReader& r, GGUFValue::Type type, int depth, const std::string& context);

GGUFValue read_array(BoundedReader& r, int depth, const std::string& context) {
  const uint64_t at = r.offset();
  if (depth >= kMaxArrayDepth)
    r.fail_at(at, context + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth));
  GGUFValue::Array array;
  array.element_type = read_value_type(r, context + " array element");
  const auto count = r.read<uint64_t>(context + " array length");
  r.check_count(count, min_value_bytes(array.element_type), at, context + " array");
  array.items.reserve(count);
  for (uint64_t i = 0; i < count; ++i)
    array.items.push_back(read_value(r, array.element_type, depth + 1, context));
  GGUFValue v;
  v.type = GGUFValue::Type::Array;
  v.value = std::move(array);
  return v;
}

GGUFValue read_value(BoundedReader& r, GGUFValue::Type type, int depth, const std::string& context) {
  using T = GGUFValue::Type;
  switch (type) {
    case T::UInt8: return scalar<uint64_t, uint8_t>(r, type, context);
    case T::Int8: return scalar<int64_t, int8_t>(r, type, context);
    case T::UInt16: return scalar<uint64_t, uint16_t>(r, type, context);
    case T::Int16: return scalar<int64_t, int16_t>(r, type, context);
    case T::UInt32: return scalar<uint64_t, uint32_t>(r, type, context);
    case T::Int32: return scalar<int64_t, int32_t>(r, type, context);
    case T::UInt64: return scalar<uint64_t, uint64_t>(r, type, context);
    case T::Int64: return scalar<int64_t, int64_t>(r, type, context);
    case T::Float32: return scalar<double, float>(r, type, context);
    case T::Float64: return scalar<double, double>(r, type, context);
    case T::Bool: {
      const uint64_t at = r.offset();
      const auto raw = r.read<uint8_t>(context);
      if (raw > 1) r.fail_at(at, context + ": bool value " + std::to_string(raw) + " is not 0 or 1");
      GGUFValue v;
      v.type = type;
      v.value = raw == 1;
      return v;
    }
    case T::String: {
      GGUFValue v;
      v.type = type;
      v.value = r.read_string(context);
      return v;
    }
    case T::Array: return read_array(r, depth, context);
  }
  r.fail(context + ": unknown metadata value type");
}

uint64_t read_alignment(const GGUFValue& v, uint64_t at, const BoundedReader& r) {
  if (!v.is_integer())
    r.fail_at(at, "metadata key 'general.alignment': expected an integer, got " +
                      std::string(gguf_value_type_name(v.type)));
  const auto* u = std::get_if<uint64_t>(&v.value);
  const auto* i = std::get_if<int64_t>(&v.value);
  const uint64_t alignment = u ? *u : (*i < 0 ? 0 : static_cast<uint64_t>(*i));
  if (i && *i < 0)
    r.fail_at(at, "general.alignment " + std::to_string(*i) + " is not a power of two");
  if (!std::has_single_bit(alignment))
    r.fail_at(at, "general.alignment " + std::to_string(alignment) + " is not a power of two");
  return alignment;
}

// A tensor info as read, before its offset is made absolute.
struct RawTensorInfo {
  GGUFTensorInfo info;
  uint64_t info_offset = 0;  // where its entry starts, for messages
};

std::vector<int64_t> read_dims(BoundedReader& r, const std::string& context) {
  const uint64_t at = r.offset();
  const auto n_dims = r.read<uint32_t>(context + " n_dims");
  if (n_dims == 0 || n_dims > static_cast<uint32_t>(Tensor::kMaxDims))
    r.fail_at(at, context + ": number of dimensions " + std::to_string(n_dims) + " is not in 1.." +
                      std::to_string(Tensor::kMaxDims));
  std::vector<int64_t> dims;
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t dim_at = r.offset();
    const auto dim = r.read<uint64_t>(context + " dimension");
    if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      r.fail_at(dim_at, context + ": dimension " + std::to_string(d) + " has invalid size " +
                            std::to_string(static_cast<int64_t>(dim)));
    dims.push_back(static_cast<int64_t>(dim));
  }
  return dims;
}

uint64_t tensor_nbytes(const BoundedReader& r, uint64_t at, const std::string& context,
                       const std::vector<int64_t>& dims, DType dtype) {
  int64_t numel = 1;
  for (int64_t d : dims)
    if (__builtin_mul_overflow(numel, d, &numel))
      r.fail_at(at, context + ": element count overflows 64 bits");
  const auto& info = dtype_info(dtype);
  if (dims[0] % info.block_size != 0)
    r.fail_at(at, context + ": row length " + std::to_string(dims[0]) + " is not a multiple of the " +
                      std::string(info.name) + " block size " + std::to_string(info.block_size));
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(numel / info.block_size, info.block_bytes, &nbytes))
    r.fail_at(at, context + ": byte size overflows 64 bits");
  return static_cast<uint64_t>(nbytes);
}

RawTensorInfo read_tensor_info(BoundedReader& r, uint64_t index, uint64_t alignment) {
  RawTensorInfo raw;
  raw.info_offset = r.offset();
  auto& info = raw.info;
  info.name = r.read_string("tensor " + std::to_string(index) + " name");
  const std::string context = "tensor " + single_quoted(info.name);
  info.dims = read_dims(r, context);
  const uint64_t type_at = r.offset();
  const auto type_id = r.read<uint32_t>(context + " type");
  auto dtype = dtype_from_gguf_type(type_id);
  if (!dtype) r.fail_at(type_at, context + ": unknown or unsupported tensor type id " + std::to_string(type_id));
  info.dtype = *dtype;
  info.nbytes = tensor_nbytes(r, raw.info_offset, context, info.dims, info.dtype);
  const uint64_t offset_at = r.offset();
  info.data_offset = r.read<uint64_t>(context + " data offset");
  if (info.data_offset % alignment != 0)
    r.fail_at(offset_at, context + ": data offset " + std::to_string(info.data_offset) +
                             " is not aligned to " + std::to_string(alignment));
  return raw;
}

// Makes offsets absolute and checks each tensor lies inside the file and no two overlap.
void place_tensors(const BoundedReader& r, uint64_t data_start, std::vector<RawTensorInfo>& raws) {
  for (auto& raw : raws) {
    auto& info = raw.info;
    uint64_t begin = 0, end = 0;
    if (__builtin_add_overflow(data_start, info.data_offset, &begin) ||
        __builtin_add_overflow(begin, info.nbytes, &end) || end > r.size())
      r.fail_at(raw.info_offset, "tensor " + single_quoted(info.name) + ": data at relative offset " +
                                     std::to_string(info.data_offset) + " with " + std::to_string(info.nbytes) +
                                     " bytes extends beyond the end of the file (" +
                                     std::to_string(r.size()) + " bytes, data section at " +
                                     std::to_string(data_start) + ")");
    info.data_offset = begin;
  }
  std::vector<const RawTensorInfo*> order;
  for (const auto& raw : raws) order.push_back(&raw);
  std::sort(order.begin(), order.end(), [](const RawTensorInfo* a, const RawTensorInfo* b) {
    return a->info.data_offset < b->info.data_offset;
  });
  for (size_t i = 1; i < order.size(); ++i) {
    const auto& prev = order[i - 1]->info;
    const auto& cur = order[i]->info;
    if (prev.data_offset + prev.nbytes > cur.data_offset)
      r.fail_at(order[i]->info_offset, "tensors " + single_quoted(prev.name) + " and " + single_quoted(cur.name) +
                                           " overlap in the data section");
  }
}

}  // namespace

std::shared_ptr<GGUFFile> GGUFFile::open(const std::string& path) {
  return from_memory(map_file_readonly(path), path);
}

std::shared_ptr<GGUFFile> GGUFFile::from_memory(std::shared_ptr<Storage> bytes, const std::string& name) {
  std::shared_ptr<GGUFFile> file(new GGUFFile());
  file->path_ = name;
  file->bytes_ = std::move(bytes);
  file->parse();
  return file;
}

void GGUFFile::parse() {
  BoundedReader r(static_cast<const uint8_t*>(bytes_->data), bytes_->bytes, path_);
  if (r.read<uint32_t>("magic") != kMagic) r.fail_at(0, "not a GGUF file (wrong magic)");
  version_ = r.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3)
    r.fail_at(4, "unsupported GGUF version " + std::to_string(version_) + " (supported: 2, 3)");
  const uint64_t tensor_count_at = r.offset();
  const auto tensor_count = r.read<uint64_t>("tensor count");
  const uint64_t metadata_count_at = r.offset();
  const auto metadata_count = r.read<uint64_t>("metadata count");
  r.check_count(metadata_count, kMinMetadataEntryBytes, metadata_count_at, "metadata entries");
  r.check_count(tensor_count, kMinTensorInfoBytes, tensor_count_at, "tensor infos");

  for (uint64_t i = 0; i < metadata_count; ++i) {
    const uint64_t at = r.offset();
    std::string key = r.read_string("metadata key " + std::to_string(i));
    const std::string context = "metadata key " + single_quoted(key);
    GGUFValue value = read_value(r, read_value_type(r, context), 0, context);
    if (metadata_.count(key)) r.fail_at(at, "duplicate metadata key " + single_quoted(key));
    if (key == "general.alignment") alignment_ = read_alignment(value, at, r);
    key_offsets_.emplace(key, at);
    metadata_.emplace(std::move(key), std::move(value));
  }

  std::vector<RawTensorInfo> raws;
  raws.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    raws.push_back(read_tensor_info(r, i, alignment_));
    const auto& name = raws.back().info.name;
    if (tensor_index_.count(name)) r.fail_at(raws.back().info_offset, "duplicate tensor name " + single_quoted(name));
    tensor_index_.emplace(name, i);
  }
  uint64_t data_start = r.offset();
  if (data_start % alignment_ != 0 &&
      __builtin_add_overflow(data_start, alignment_ - data_start % alignment_, &data_start))
    r.fail("data section start overflows 64 bits with alignment " + std::to_string(alignment_));
  place_tensors(r, data_start, raws);
  tensors_.reserve(raws.size());
  for (auto& raw : raws) tensors_.push_back(std::move(raw.info));
}

}  // namespace strata
