// The CPU backend's tile order (weight_tiles.h): a lossless reordering of the blocks that
// the AVX-512 kernels read with the same results as row order, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_internal.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/weight_tiles.h"

namespace strata::cpu {
namespace {

const DType kTiledTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1};

Tensor random_weights(DType t, int64_t n, int64_t k, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::vector<float> row(static_cast<size_t>(k));
  Tensor w = Tensor::empty({n, k}, t);
  const int64_t row_bytes = dtype_row_bytes(t, k);
  for (int64_t r = 0; r < n; ++r) {
    for (auto& v : row) v = normal(rng) + 0.02f;
    quantize_row(t, row.data(), static_cast<uint8_t*>(w.raw_data()) + r * row_bytes, k);
  }
  return w;
}

Tensor random_activations(int64_t m, int64_t k, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor x = Tensor::empty({m, k}, DType::F32);
  for (int64_t i = 0; i < m * k; ++i) x.data<float>()[i] = normal(rng);
  return x;
}

bool has_avx512() {
  const auto isas = supported_matmul_isas();
  return std::find(isas.begin(), isas.end(), MatmulIsa::Avx512) != isas.end();
}

TEST(WeightTiles, RoundTripIsLosslessAndKeepsTheSize) {
  std::mt19937 rng(1);
  for (DType t : kTiledTypes)
    for (int64_t n : {16, 33, 50})
      for (int64_t k : {32, 96}) {
        const Tensor w = random_weights(t, n, k, rng);
        ASSERT_TRUE(can_tile(w));
        const Tensor tiled = tile_weights(w);
        EXPECT_EQ(tiled.block_order(), BlockOrder::Tiles16);
        EXPECT_EQ(tiled.storage()->bytes, w.storage()->bytes);
        EXPECT_FALSE(can_tile(tiled));
        const Tensor back = untile_weights(tiled);
        ASSERT_EQ(std::memcmp(back.raw_data(), w.raw_data(), w.storage()->bytes), 0) << dtype_name(t) << " n=" << n;
        // One row at a time, as the embedding lookup reads a tiled table.
        const int64_t row_bytes = dtype_row_bytes(t, k);
        std::vector<uint8_t> row(static_cast<size_t>(row_bytes));
        for (int64_t r = 0; r < n; ++r) {
          untile_row(t, static_cast<const uint8_t*>(tiled.raw_data()), n, k, r, row.data());
          ASSERT_EQ(std::memcmp(row.data(), static_cast<const uint8_t*>(w.raw_data()) + r * row_bytes, row.size()), 0);
        }
      }
}

TEST(WeightTiles, OnlyWholeRowOrderQuantizedMatricesTile) {
  std::mt19937 rng(2);
  EXPECT_FALSE(can_tile(random_weights(DType::Q4_1, 15, 64, rng)));  // no whole tile
  EXPECT_FALSE(can_tile(Tensor::empty({32, 64}, DType::F16)));
  EXPECT_FALSE(can_tile(Tensor::empty({32, 256}, DType::Q4_K)));
  EXPECT_THROW(tile_weights(Tensor::empty({32, 64}, DType::F32)), Error);
}

// Tiled and row-order weights give the same outputs at every M (register and memory
// tiles), with a partial last tile in row order (n = 45) and a column split over threads.
TEST(WeightTiles, MatmulEqualsRowOrderBitForBit) {
  if (!has_avx512()) GTEST_SKIP() << "no AVX-512 VNNI";
  std::mt19937 rng(3);
  for (DType t : kTiledTypes)
    for (int64_t n : {16, 45, 96})
      for (int64_t m : {1, 3, 5, 40}) {
        const int64_t k = 160;
        const Tensor w = random_weights(t, n, k, rng), tiled = tile_weights(w);
        const Tensor x = random_activations(m, k, rng);
        for (int threads : {1, 2, 3}) {
          ThreadPool pool(threads);
          Tensor a = Tensor::empty({m, n}, DType::F32), b = Tensor::empty({m, n}, DType::F32);
          matmul_with(MatmulIsa::Avx512, pool, a, x, w);
          matmul_with(MatmulIsa::Avx512, pool, b, x, tiled);
          for (int64_t i = 0; i < m * n; ++i)
            ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]) << dtype_name(t) << " n=" << n << " m=" << m << " at " << i;
        }
      }
}

TEST(WeightTiles, OtherKernelFamiliesAndViewsAreRefused) {
  std::mt19937 rng(4);
  const Tensor tiled = tile_weights(random_weights(DType::Q4_1, 32, 64, rng));
  const Tensor x = random_activations(2, 64, rng);
  ThreadPool pool(1);
  Tensor y = Tensor::empty({2, 32}, DType::F32);
  EXPECT_THROW(matmul_with(MatmulIsa::Generic, pool, y, x, tiled), Error);
  Tensor half = Tensor::empty({2, 16}, DType::F32);
  if (has_avx512()) {
    EXPECT_THROW(matmul_with(MatmulIsa::Avx512, pool, half, x, tiled.slice(0, 16, 32)), Error);
  }
  // Nor can an embedding lookup read a view of a tiled table.
  Tensor ids = Tensor::empty({1}, DType::I32);
  Tensor row = Tensor::empty({1, 64}, DType::F32);
  EXPECT_THROW(embedding(pool, row, tiled.slice(0, 16, 32), ids), Error);
  EXPECT_NO_THROW(embedding(pool, row, tiled, ids));
}

}  // namespace
}  // namespace strata::cpu
