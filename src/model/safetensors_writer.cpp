// Writes one safetensors file: tensors packed back to back, widest element type first
// (as the Python writer does), after a JSON header padded by spaces to a multiple of 8
// bytes, so that every tensor's data is aligned to its element size.
#include <algorithm>
#include <fstream>

#include "model/safetensors.h"

namespace strata {

void SafetensorsWriter::add_metadata(std::string key, std::string value) {
  metadata_.emplace_back(std::move(key), std::move(value));
}

void SafetensorsWriter::add_tensor(std::string name, DType dtype, const std::vector<int64_t>& shape,
                                   std::span<const uint8_t> data) {
  safetensors_dtype_name(dtype);  // throws for dtypes safetensors cannot hold
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (static_cast<int64_t>(data.size()) != dtype_row_bytes(dtype, numel))
    throw InvalidArgument("data", "SafetensorsWriter: tensor '" + name + "' has " + std::to_string(data.size()) +
                                      " bytes, expected " + std::to_string(dtype_row_bytes(dtype, numel)));
  tensors_.push_back(Entry{std::move(name), dtype, shape, std::vector<uint8_t>(data.begin(), data.end())});
}

void SafetensorsWriter::add_tensor(std::string name, const Tensor& tensor) {
  if (tensor.device() != Device::CPU) throw InvalidArgument("tensor", "SafetensorsWriter: tensor '" + name + "' is not on the host");
  const Tensor dense = tensor.contiguous();
  const auto* p = static_cast<const uint8_t*>(dense.raw_data());
  add_tensor(std::move(name), dense.dtype(), dense.shape(), std::span<const uint8_t>(p, dense.nbytes()));
}

std::vector<uint8_t> SafetensorsWriter::to_bytes() const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    auto& meta = header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata_) meta[key] = value;
  }
  std::vector<const Entry*> order;
  for (const auto& t : tensors_) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return dtype_info(a->dtype).block_bytes > dtype_info(b->dtype).block_bytes;
  });
  uint64_t offset = 0;
  for (const Entry* entry : order) {
    const Entry& t = *entry;
    header[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<uint8_t> out(8);
  const uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>(length >> (8 * i));
  out.insert(out.end(), text.begin(), text.end());
  for (const Entry* t : order) out.insert(out.end(), t->data.begin(), t->data.end());
  return out;
}

void SafetensorsWriter::write(const std::string& path) const {
  const auto bytes = to_bytes();
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw Error(path + ": cannot open for writing");
  file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!file) throw Error(path + ": write failed");
}

}  // namespace strata
