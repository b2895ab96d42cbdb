#pragma once
// The CPU backend's tile order for block-quantized weights (BlockOrder::Tiles16), read by
// the AVX-512 matmul kernels (matmul_quant_avx512.cpp).
//
// GGUF stores a [rows, k] matrix row after row, each row a run of blocks whose 2-byte
// scales sit between the quants. The AVX-512 kernels compute 16 rows at once, one per
// 32-bit lane, and want each group's quants already transposed so. Tiles16 keeps the rows
// of each whole tile of 16 (rows 16t .. 16t + 15) in that order: the tile's bytes are its
// blocks, group by group (group = one block of each of the 16 rows), and each group is
//   quants: vector j of 64 bytes, lane c (bytes 4c .. 4c + 3) = row c's quant bytes
//           4j .. 4j + 3 (8 vectors for Q8_0's 32 bytes, 4 for the 16 nibble bytes);
//   qh (Q5_0, Q5_1): 16 x 4 bytes, row c's at 4c;
//   scales: 16 x the block's leading d (Q8_0, Q4_0, Q5_0: 2 bytes) or d, m (Q4_1, Q5_1: 4).
// That is 16 x the block size, so a tile takes exactly the bytes its 16 rows took and the
// tensor's size is unchanged. Rows past the last whole tile stay in row order at the end.
// The quants keep their own encoding (nothing is dequantized or re-quantized).
#include <cstdint>

#include "core/tensor.h"

namespace strata::cpu {

constexpr int64_t kTileRows = 16;

// Whether `w` can take the tile order: a dense 2-D Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1
// tensor in row order with at least one whole tile.
bool can_tile(const Tensor& w);

// Throws Error naming `op` unless a tensor in the tile order is the whole tensor that
// tile_weights made (a view into it would cut through tiles).
void require_whole_if_tiled(const Tensor& w, const char* op);

// A new host tensor with w's values in the tile order (w itself is left as it is).
Tensor tile_weights(const Tensor& w);
// The row-order copy of a tiled tensor (download, tests).
Tensor untile_weights(const Tensor& tiled);
// Row r of a tiled tensor's data ([rows, k]) in GGUF's row order, into out (row bytes).
void untile_row(DType t, const uint8_t* tiled, int64_t rows, int64_t k, int64_t r, uint8_t* out);

}  // namespace strata::cpu
