#include "kernels/cuda/weight_layout.h"

#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_blocks.h"

namespace strata::cuda {

bool is_repacked(DType t) { return t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_1; }

bool kept_on_device(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::I32 || is_repacked(t);
}

namespace {

// Where a GGUF block keeps its scale, optional min and quants.
struct BlockFields {
  int64_t block_bytes, quants_offset, quant_bytes;
  bool has_min;
};

BlockFields fields_of(DType t) {
  switch (t) {
    case DType::Q8_0: return {sizeof(cpu::BlockQ8_0), 2, 32, false};
    case DType::Q4_0: return {sizeof(cpu::BlockQ4_0), 2, 16, false};
    case DType::Q4_1: return {sizeof(cpu::BlockQ4_1), 4, 16, true};
    default: throw Error("repack: " + std::string(dtype_name(t)) + " has no device block layout");
  }
}

}  // namespace

void repack_blocks(DType t, const uint8_t* gguf, int64_t num_blocks, uint8_t* out) {
  const BlockFields f = fields_of(t);
  uint8_t* quants = out;
  uint8_t* scales = out + num_blocks * f.quant_bytes;
  uint8_t* mins = scales + num_blocks * 2;
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* block = gguf + b * f.block_bytes;
    std::memcpy(quants + b * f.quant_bytes, block + f.quants_offset, static_cast<size_t>(f.quant_bytes));
    std::memcpy(scales + b * 2, block, 2);
    if (f.has_min) std::memcpy(mins + b * 2, block + 2, 2);
  }
}

void unpack_blocks(DType t, const uint8_t* in, int64_t num_blocks, uint8_t* gguf) {
  const BlockFields f = fields_of(t);
  const uint8_t* quants = in;
  const uint8_t* scales = in + num_blocks * f.quant_bytes;
  const uint8_t* mins = scales + num_blocks * 2;
  for (int64_t b = 0; b < num_blocks; ++b) {
    uint8_t* block = gguf + b * f.block_bytes;
    std::memcpy(block + f.quants_offset, quants + b * f.quant_bytes, static_cast<size_t>(f.quant_bytes));
    std::memcpy(block, scales + b * 2, 2);
    if (f.has_min) std::memcpy(block + 2, mins + b * 2, 2);
  }
}

std::vector<uint16_t> convert_to_bf16(DType t, const void* rows, int64_t num_rows, int64_t cols) {
  std::vector<uint16_t> out(static_cast<size_t>(num_rows * cols));
  std::vector<float> row(static_cast<size_t>(cols));
  const int64_t row_bytes = dtype_row_bytes(t, cols);
  for (int64_t r = 0; r < num_rows; ++r) {
    cpu::dequantize_row(t, static_cast<const uint8_t*>(rows) + r * row_bytes, row.data(), cols);
    for (int64_t i = 0; i < cols; ++i) out[static_cast<size_t>(r * cols + i)] = fp32_to_bf16(row[static_cast<size_t>(i)]);
  }
  return out;
}

}  // namespace strata::cuda
