// A Hugging Face model directory: config.json plus model.safetensors, or
// model.safetensors.index.json whose weight_map names the shard of every tensor.
#include <filesystem>

#include "model/safetensors.h"

namespace strata {

namespace {
namespace fs = std::filesystem;

std::string single_quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Shard names come from a file; keep them inside the model directory.
void check_shard_name(const std::string& index_path, const std::string& tensor, const std::string& shard) {
  if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
      shard == "." || shard == "..")
    throw JsonFieldError(index_path, "weight_map." + tensor, "shard file name " + single_quoted(shard) +
                                                                 " must be a plain file name in the model directory");
}
}  // namespace

std::shared_ptr<SafetensorsModel> SafetensorsModel::open(const std::string& directory) {
  std::shared_ptr<SafetensorsModel> model(new SafetensorsModel());
  model->directory_ = directory;
  if (!fs::is_directory(directory)) throw Error(directory + ": not a directory");
  const std::string config_path = directory + "/config.json";
  if (!fs::exists(config_path)) throw Error(directory + ": missing config.json");
  model->config_ = read_json_file(config_path);
  if (!model->config_.is_object())
    throw Error(config_path + ": expected a JSON object, got " + std::string(model->config_.type_name()));
  const std::string single = directory + "/model.safetensors";
  const std::string index = directory + "/model.safetensors.index.json";
  if (fs::exists(single))
    model->open_single_file(single);
  else if (fs::exists(index))
    model->open_shards(index);
  else
    throw Error(directory + ": neither model.safetensors nor model.safetensors.index.json is present");
  return model;
}

void SafetensorsModel::open_single_file(const std::string& path) {
  shards_.push_back(SafetensorsFile::open(path));
  for (const auto& info : shards_.back()->tensor_infos()) locations_.emplace(info.name, 0);
}

void SafetensorsModel::open_shards(const std::string& index_path) {
  const nlohmann::json index = read_json_file(index_path);
  const JsonFieldReader fields(index, index_path);
  const JsonFieldReader weight_map = fields.get_object("weight_map");
  std::map<std::string, size_t> shard_index;  // shard file name -> index in shards_
  for (const auto& [tensor, shard_json] : weight_map.json().items()) {
    const std::string shard = weight_map.get_string(tensor);
    check_shard_name(index_path, tensor, shard);
    auto [it, inserted] = shard_index.emplace(shard, shards_.size());
    if (inserted) shards_.push_back(SafetensorsFile::open(directory_ + "/" + shard));
    if (shards_[it->second]->find_tensor(tensor) == nullptr)
      throw Error(index_path + ": weight_map places tensor " + single_quoted(tensor) + " in " + shard +
                  ", which does not contain it");
    locations_.emplace(tensor, it->second);
  }
}

std::vector<std::string> SafetensorsModel::tensor_names() const {
  std::vector<std::string> names;
  for (const auto& [name, shard] : locations_) names.push_back(name);
  return names;
}

const SafetensorsFile& SafetensorsModel::shard_of(std::string_view name) const {
  auto it = locations_.find(name);
  if (it == locations_.end()) throw Error(directory_ + ": no tensor named " + single_quoted(name));
  return *shards_[it->second];
}

const SafetensorsTensorInfo& SafetensorsModel::tensor_info(std::string_view name) const {
  return *shard_of(name).find_tensor(name);
}

Tensor SafetensorsModel::tensor(std::string_view name) const { return shard_of(name).tensor(name); }

}  // namespace strata
