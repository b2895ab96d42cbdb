#pragma once
// Reference quantizers of the GGUF block formats (internal to quant.cpp).
#include <cstdint>

#include "core/dtype.h"

namespace strata::cpu {

// t is one of the block-quantized dtypes; n is a multiple of its block size.
void quantize_blocks(DType t, const float* src, void* dst, int64_t n);

}  // namespace strata::cpu
