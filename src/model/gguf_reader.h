#pragma once
// A bounded little-endian reader over a byte range that knows its offset and the file's
// name, so every failure can say where it happened. Internal to the GGUF parser.
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/error.h"

namespace strata {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader assumes a little-endian host");

// True when `bytes` is well-formed UTF-8 (no overlong forms, surrogates or code points
// above U+10FFFF).
bool is_valid_utf8(std::string_view bytes);

class BoundedReader {
 public:
  BoundedReader(const uint8_t* data, uint64_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  uint64_t offset() const { return offset_; }
  uint64_t size() const { return size_; }
  uint64_t remaining() const { return size_ - offset_; }
  const std::string& path() const { return path_; }

  [[noreturn]] void fail(const std::string& what) const { fail_at(offset_, what); }
  [[noreturn]] void fail_at(uint64_t offset, const std::string& what) const {
    throw FileFormatError(path_, offset, what);
  }

  // Fails with "truncated ... reading <what>" unless `n` more bytes are available.
  void require(uint64_t n, std::string_view what) const {
    if (n > remaining())
      fail("file truncated: need " + std::to_string(n) + " bytes for " + std::string(what) +
           ", only " + std::to_string(remaining()) + " left");
  }

  template <typename T>
  T read(std::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    require(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  std::string_view read_bytes(uint64_t n, std::string_view what) {
    require(n, what);
    std::string_view bytes(reinterpret_cast<const char*>(data_ + offset_), n);
    offset_ += n;
    return bytes;
  }

  // A GGUF string: u64 length then bytes, which must be UTF-8. The length is checked
  // against the remaining bytes before anything is allocated.
  std::string read_string(std::string_view what) {
    const uint64_t start = offset_;
    const auto length = read<uint64_t>(what);
    if (length > remaining())
      fail_at(start, std::string(what) + ": string length " + std::to_string(length) +
                         " exceeds the " + std::to_string(remaining()) + " bytes left in the file");
    std::string_view bytes = read_bytes(length, what);
    if (!is_valid_utf8(bytes)) fail_at(start, std::string(what) + ": string is not valid UTF-8");
    return std::string(bytes);
  }

  // Rejects `count` items of at least `min_item_bytes` each when they cannot fit in the
  // rest of the file; called before reserving room for them.
  void check_count(uint64_t count, uint64_t min_item_bytes, uint64_t at, std::string_view what) const {
    if (min_item_bytes > 0 && count > remaining() / min_item_bytes)
      fail_at(at, std::string(what) + ": count " + std::to_string(count) + " cannot fit in the " +
                      std::to_string(remaining()) + " bytes left in the file");
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t offset_ = 0;
  const std::string& path_;
};

}  // namespace strata
