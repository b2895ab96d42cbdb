#include "kernels/cpu/weight_tiles.h"

#include <cstring>
#include <optional>

#include "core/error.h"
#include "kernels/cpu/quant_blocks.h"

namespace strata::cpu {

namespace {

// Where a block's fields sit (bytes from the block start), and the group's layout in
// the tile order.
struct BlockFields {
  int64_t block_bytes = 0;
  int64_t scale_bytes = 0;  // leading d, or d and m
  int64_t qh_offset = -1;   // -1: no fifth bits
  int64_t quant_offset = 0;
  int64_t quant_bytes = 0;

  int64_t group_bytes() const { return kTileRows * block_bytes; }
  int64_t qh_start() const { return kTileRows * quant_bytes; }
  int64_t scale_start() const { return qh_start() + (qh_offset >= 0 ? kTileRows * 4 : 0); }
};

std::optional<BlockFields> fields_of(DType t) {
  switch (t) {
    case DType::Q8_0: return BlockFields{sizeof(BlockQ8_0), 2, -1, offsetof(BlockQ8_0, qs), 32};
    case DType::Q4_0: return BlockFields{sizeof(BlockQ4_0), 2, -1, offsetof(BlockQ4_0, qs), 16};
    case DType::Q4_1: return BlockFields{sizeof(BlockQ4_1), 4, -1, offsetof(BlockQ4_1, qs), 16};
    case DType::Q5_0: return BlockFields{sizeof(BlockQ5_0), 2, offsetof(BlockQ5_0, qh), offsetof(BlockQ5_0, qs), 16};
    case DType::Q5_1: return BlockFields{sizeof(BlockQ5_1), 4, offsetof(BlockQ5_1, qh), offsetof(BlockQ5_1, qs), 16};
    default: return std::nullopt;
  }
}

// Calls fn(offset in the block, offset in its group, bytes) for each piece of row c's block.
template <typename Fn>
void for_each_piece(const BlockFields& f, int c, Fn&& fn) {
  for (int64_t j = 0; j < f.quant_bytes / 4; ++j) fn(f.quant_offset + 4 * j, 64 * j + 4 * c, 4);
  if (f.qh_offset >= 0) fn(f.qh_offset, f.qh_start() + 4 * c, 4);
  fn(0, f.scale_start() + f.scale_bytes * c, f.scale_bytes);
}

void block_to_group(const BlockFields& f, const uint8_t* block, uint8_t* group, int c) {
  for_each_piece(f, c, [&](int64_t in_block, int64_t in_group, int64_t n) {
    std::memcpy(group + in_group, block + in_block, static_cast<size_t>(n));
  });
}

void group_to_block(const BlockFields& f, const uint8_t* group, uint8_t* block, int c) {
  for_each_piece(f, c, [&](int64_t in_block, int64_t in_group, int64_t n) {
    std::memcpy(block + in_block, group + in_group, static_cast<size_t>(n));
  });
}

BlockFields require_fields(DType t, const char* op) {
  const auto fields = fields_of(t);
  if (!fields) throw Error(std::string(op) + ": " + std::string(dtype_name(t)) + " has no tile order");
  return *fields;
}

}  // namespace

bool can_tile(const Tensor& w) {
  return fields_of(w.dtype()).has_value() && w.ndim() == 2 && w.is_contiguous() && w.size(0) >= kTileRows &&
         w.device() == Device::CPU && w.block_order() == BlockOrder::Rows;
}

void require_whole_if_tiled(const Tensor& w, const char* op) {
  if (w.block_order() != BlockOrder::Tiles16) return;
  const bool whole = w.ndim() == 2 && w.byte_offset() == 0 && w.is_contiguous() &&
                     static_cast<size_t>(dtype_row_bytes(w.dtype(), w.size(1)) * w.size(0)) == w.storage()->bytes;
  if (!whole) throw Error(std::string(op) + ": " + w.describe() + " is in the tile order: only the whole tensor, not a view");
}

Tensor tile_weights(const Tensor& w) {
  if (!can_tile(w)) throw Error("tile_weights: " + w.describe() + " cannot take the tile order");
  const BlockFields f = require_fields(w.dtype(), "tile_weights");
  const int64_t rows = w.size(0), blocks = w.size(1) / kQ32, row_bytes = blocks * f.block_bytes;
  Tensor tiled = Tensor::empty({rows, w.size(1)}, w.dtype());
  tiled.storage()->block_order = BlockOrder::Tiles16;
  const auto* src = static_cast<const uint8_t*>(w.raw_data());
  auto* dst = static_cast<uint8_t*>(tiled.raw_data());
  const int64_t whole = rows / kTileRows * kTileRows;
  for (int64_t tile = 0; tile < whole; tile += kTileRows)
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t* group = dst + tile * row_bytes + b * f.group_bytes();
      for (int c = 0; c < kTileRows; ++c)
        block_to_group(f, src + (tile + c) * row_bytes + b * f.block_bytes, group, c);
    }
  std::memcpy(dst + whole * row_bytes, src + whole * row_bytes, static_cast<size_t>((rows - whole) * row_bytes));
  return tiled;
}

void untile_row(DType t, const uint8_t* tiled, int64_t rows, int64_t k, int64_t r, uint8_t* out) {
  const BlockFields f = require_fields(t, "untile_row");
  const int64_t blocks = k / kQ32, row_bytes = blocks * f.block_bytes;
  const int64_t whole = rows / kTileRows * kTileRows;
  if (r >= whole) {
    std::memcpy(out, tiled + r * row_bytes, static_cast<size_t>(row_bytes));
    return;
  }
  const int64_t tile = r / kTileRows * kTileRows;
  const int c = static_cast<int>(r - tile);
  for (int64_t b = 0; b < blocks; ++b)
    group_to_block(f, tiled + tile * row_bytes + b * f.group_bytes(), out + b * f.block_bytes, c);
}

Tensor untile_weights(const Tensor& tiled) {
  if (tiled.block_order() != BlockOrder::Tiles16 || tiled.ndim() != 2)
    throw Error("untile_weights: " + tiled.describe() + " is not in the tile order");
  Tensor out = Tensor::empty({tiled.size(0), tiled.size(1)}, tiled.dtype());
  const int64_t row_bytes = dtype_row_bytes(tiled.dtype(), tiled.size(1));
  for (int64_t r = 0; r < tiled.size(0); ++r)
    untile_row(tiled.dtype(), static_cast<const uint8_t*>(tiled.raw_data()), tiled.size(0), tiled.size(1), r,
               static_cast<uint8_t*>(out.raw_data()) + r * row_bytes);
  return out;
}

}  // namespace strata::cpu
