#pragma once
// Element types, including the block-quantized weight formats of GGUF. A quantized
// type stores `block_size` elements in `block_bytes` bytes; rows of a quantized tensor
// are always whole blocks.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace strata {

enum class DType : uint8_t {
  F32, F16, BF16, I32,
  Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
  Q4_K, Q5_K, Q6_K,
};

struct DTypeInfo {
  std::string_view name;
  int64_t block_size;   // elements per block (1 for plain types)
  int64_t block_bytes;  // bytes per block
  bool quantized;
};

const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
std::optional<DType> dtype_from_name(std::string_view name);  // "q4_1", "f16", ... (case-insensitive)

// Bytes for `n` elements; n must be a multiple of the block size.
inline int64_t dtype_row_bytes(DType t, int64_t n) {
  const auto& i = dtype_info(t);
  return n / i.block_size * i.block_bytes;
}

}  // namespace strata
