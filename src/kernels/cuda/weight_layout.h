#pragma once
// The device layout of block-quantized weights. GGUF interleaves each block's 2-byte
// scale with its quants (18, 20 or 34 bytes a block), which leaves the quants unaligned
// for vector loads; on the device a [rows, cols] Q8_0/Q4_0/Q4_1 tensor instead holds all
// blocks' quants first (32 or 16 bytes each, in GGUF's nibble order), then all f16 scales,
// then (Q4_1) all f16 mins. Same bytes in total, so the Tensor's size stays right.
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace strata::cuda {

// Whether the device keeps this dtype as is or repacked (else upload converts to bf16).
bool kept_on_device(DType t);
bool is_repacked(DType t);  // Q8_0, Q4_0, Q4_1

// Bytes of packed quants per block on the device.
constexpr int64_t packed_quant_bytes(DType t) { return t == DType::Q8_0 ? 32 : 16; }

// GGUF blocks (rows * cols / 32 of them) -> device layout, and back.
void repack_blocks(DType t, const uint8_t* gguf, int64_t num_blocks, uint8_t* device_layout);
void unpack_blocks(DType t, const uint8_t* device_layout, int64_t num_blocks, uint8_t* gguf);

// Rows of any weight dtype -> bf16 bits (for dtypes the kernels do not read directly).
std::vector<uint16_t> convert_to_bf16(DType t, const void* rows, int64_t num_rows, int64_t cols);

}  // namespace strata::cuda
