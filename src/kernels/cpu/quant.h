#pragma once
// Reference (scalar) conversion of rows between f32 and every weight dtype Strata reads:
// F32, F16, BF16 and the GGUF block formats of quant_blocks.h. Dequantization matches the
// `gguf` Python package bit for bit; quantization rounds to nearest like ggml's reference
// quantizers (the K-quant quantizers are simple but produce valid, accurate blocks).
#include <cstdint>

#include "core/dtype.h"

namespace strata::cpu {

// n elements; n must be a multiple of the dtype's block size. I32 is rejected.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
void quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace strata::cpu
