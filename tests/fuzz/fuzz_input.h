#pragma once
// Helpers shared by the fuzz targets: the fuzzer's bytes as Strata inputs.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "core/tensor.h"

namespace strata::fuzz {

// A host Storage holding a copy of the input, as a memory-mapped file would. Exactly
// `size` bytes (no rounding up) so that ASan sees a read one byte past the end.
inline std::shared_ptr<Storage> storage_of(const uint8_t* data, size_t size) {
  std::shared_ptr<uint8_t[]> copy(new uint8_t[size == 0 ? 1 : size]);
  if (size) std::memcpy(copy.get(), data, size);
  return Storage::wrap(copy.get(), size, Device::CPU, copy);
}

// Splits off the first byte as a selector (which parser, which flags).
struct Selector {
  uint8_t choice = 0;
  std::string_view rest;
};
inline Selector split_selector(const uint8_t* data, size_t size) {
  if (size == 0) return {};
  return {data[0], std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1)};
}

}  // namespace strata::fuzz
