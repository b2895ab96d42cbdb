#pragma once
// Helpers shared by the GGUF tests: paths, FNV-1a hashing (the same encoding as
// tools/dump_gguf_reference.py), and parsing bytes held in memory.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/gguf.h"

namespace strata::test {

inline std::string model_data_dir() { return std::string(STRATA_SOURCE_DIR) + "/tests/model/data"; }
inline std::string gguf_vocab_dir() { return std::string(STRATA_SHARED_DIR) + "/fixtures/tokenizers/gguf-vocab"; }

class Fnv1a {
 public:
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) hash_ = (hash_ ^ p[i]) * 0x100000001B3ull;
  }
  template <typename T>
  void add_value(T v) { add(&v, sizeof(v)); }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(hash_));
    return buf;
  }

 private:
  uint64_t hash_ = 0xCBF29CE484222325ull;
};

inline std::shared_ptr<Storage> storage_of(const std::vector<uint8_t>& bytes) {
  auto storage = Storage::allocate_host(bytes.size());
  if (!bytes.empty()) std::memcpy(storage->data, bytes.data(), bytes.size());
  return storage;
}

inline std::shared_ptr<GGUFFile> parse_gguf(const std::vector<uint8_t>& bytes,
                                            const std::string& name = "mem.gguf") {
  return GGUFFile::from_memory(storage_of(bytes), name);
}

}  // namespace strata::test
