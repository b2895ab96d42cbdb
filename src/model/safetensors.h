#pragma once
// Safetensors: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and data_offsets (relative to the data after the header), then the data.
// SafetensorsFile checks every entry against the file and exposes zero-copy views over a
// read-only mapping; SafetensorsModel is a Hugging Face directory (config.json plus one
// file or an index of shards); SafetensorsWriter writes one file.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "model/json_fields.h"

namespace strata {

struct SafetensorsTensorInfo {
  std::string name;
  std::string dtype_name;         // as written: "F32", "BF16", "I64", ...
  std::optional<DType> dtype;     // nullopt for known dtypes Strata does not load (I64, F64, ...)
  std::vector<int64_t> shape;     // row-major; empty for a scalar
  uint64_t data_offset = 0;       // absolute offset in the file
  uint64_t nbytes = 0;
};

class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  // Parses from memory (tests); `name` stands in for the path in errors.
  static std::shared_ptr<SafetensorsFile> from_memory(std::shared_ptr<Storage> bytes, const std::string& name);

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsTensorInfo>& tensor_infos() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // __metadata__
  const SafetensorsTensorInfo* find_tensor(std::string_view name) const;
  std::vector<std::string> tensor_names() const;  // sorted by name
  // A zero-copy view (a scalar becomes shape [1]). Throws Error naming the tensor if it is
  // missing and FileFormatError if its dtype is one Strata does not load.
  Tensor tensor(std::string_view name) const;

 private:
  SafetensorsFile() = default;
  void parse();
  void parse_entry(const std::string& name, const nlohmann::json& entry, uint64_t data_start);
  void check_overlaps() const;

  std::string path_;
  std::shared_ptr<Storage> bytes_;
  std::vector<SafetensorsTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  std::map<std::string, std::string> metadata_;
};

class SafetensorsModel {
 public:
  // `directory` holds config.json and model.safetensors or model.safetensors.index.json.
  static std::shared_ptr<SafetensorsModel> open(const std::string& directory);

  const std::string& directory() const { return directory_; }
  const nlohmann::json& config() const { return config_; }
  JsonFieldReader config_fields() const { return JsonFieldReader(config_, directory_ + "/config.json"); }

  std::vector<std::string> tensor_names() const;  // sorted
  bool has_tensor(std::string_view name) const { return locations_.find(name) != locations_.end(); }
  const SafetensorsTensorInfo& tensor_info(std::string_view name) const;
  Tensor tensor(std::string_view name) const;
  const std::vector<std::shared_ptr<SafetensorsFile>>& shards() const { return shards_; }

 private:
  SafetensorsModel() = default;
  void open_single_file(const std::string& path);
  void open_shards(const std::string& index_path);
  const SafetensorsFile& shard_of(std::string_view name) const;

  std::string directory_;
  nlohmann::json config_;
  std::vector<std::shared_ptr<SafetensorsFile>> shards_;
  std::map<std::string, size_t, std::less<>> locations_;  // tensor name -> index in shards_
};

class SafetensorsWriter {
 public:
  void add_metadata(std::string key, std::string value);
  // `shape` row-major; `data` must hold exactly the tensor's bytes.
  void add_tensor(std::string name, DType dtype, const std::vector<int64_t>& shape, std::span<const uint8_t> data);
  void add_tensor(std::string name, const Tensor& tensor);  // a host tensor (made contiguous)

  std::vector<uint8_t> to_bytes() const;
  void write(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };
  std::vector<Entry> tensors_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

// "F32", "F16", "BF16", "I32" for the dtypes safetensors files can hold in Strata.
std::string_view safetensors_dtype_name(DType dtype);

}  // namespace strata
