// Checks the block decoders against the `gguf` Python package (golden data written by
// tools/gen_quant_reference.py) and the reference quantizers against gguf's quantizers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/cpu/quant.h"

namespace strata::cpu {
namespace {

struct GoldenData {
  nlohmann::json cases;
  std::vector<uint8_t> blob;
};

const GoldenData& golden() {
  static const GoldenData data = [] {
    const std::string dir = std::string(STRATA_SOURCE_DIR) + "/tests/kernels/data/";
    std::ifstream json_file(dir + "quant_reference.json");
    std::ifstream bin_file(dir + "quant_reference.bin", std::ios::binary);
    GoldenData d;
    d.cases = nlohmann::json::parse(json_file)["cases"];
    d.blob.assign(std::istreambuf_iterator<char>(bin_file), {});
    return d;
  }();
  return data;
}

std::vector<float> floats_at(const GoldenData& g, size_t offset, size_t n) {
  std::vector<float> v(n);
  std::memcpy(v.data(), g.blob.data() + offset, n * sizeof(float));
  return v;
}

uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

TEST(Quant, GoldenFileHasEveryWeightDtype) {
  EXPECT_EQ(golden().cases.size(), 10u);
}

TEST(Quant, DequantizeMatchesGgufBitForBit) {
  const auto& g = golden();
  for (const auto& c : g.cases) {
    const auto dtype = dtype_from_name(c["dtype"].get<std::string>());
    ASSERT_TRUE(dtype.has_value());
    const int64_t n = c["elements"];
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row(*dtype, g.blob.data() + c["block_offset"].get<size_t>(), out.data(), n);
    const auto expected = floats_at(g, c["output_offset"], out.size());
    int mismatches = 0;
    for (size_t i = 0; i < out.size(); ++i)
      if (bits(out[i]) != bits(expected[i]) && mismatches++ < 3)
        ADD_FAILURE() << c["dtype"] << " element " << i << ": " << out[i] << " vs gguf " << expected[i];
    EXPECT_EQ(mismatches, 0) << c["dtype"];
  }
}

TEST(Quant, QuantizeMatchesGgufBytes) {
  const auto& g = golden();
  for (const auto& c : g.cases) {
    if (!c.contains("input_offset")) continue;  // gguf has no quantizer for this dtype
    const auto dtype = *dtype_from_name(c["dtype"].get<std::string>());
    const int64_t n = c["elements"];
    const auto input = floats_at(g, c["input_offset"], static_cast<size_t>(n));
    std::vector<uint8_t> out(c["block_bytes"].get<size_t>());
    ASSERT_EQ(static_cast<int64_t>(out.size()), dtype_row_bytes(dtype, n));
    quantize_row(dtype, input.data(), out.data(), n);
    const uint8_t* expected = g.blob.data() + c["block_offset"].get<size_t>();
    EXPECT_EQ(std::memcmp(out.data(), expected, out.size()), 0) << c["dtype"];
  }
}

// Quantizing then dequantizing stays within a fraction of each block's largest magnitude.
TEST(Quant, RoundTripErrorIsBounded) {
  const std::vector<std::pair<DType, float>> bounds = {
      {DType::F16, 1e-3f}, {DType::BF16, 8e-3f}, {DType::Q8_0, 0.5f / 127}, {DType::Q4_0, 1.0f / 8},
      {DType::Q4_1, 1.0f / 15}, {DType::Q5_0, 1.0f / 16}, {DType::Q5_1, 1.0f / 31},
      {DType::Q4_K, 0.15f}, {DType::Q5_K, 0.08f}, {DType::Q6_K, 0.04f}};
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  const int64_t n = 1024;
  std::vector<float> x(n), y(n);
  for (auto& v : x) v = normal(rng);
  for (const auto& [dtype, fraction] : bounds) {
    std::vector<uint8_t> q(static_cast<size_t>(dtype_row_bytes(dtype, n)));
    quantize_row(dtype, x.data(), q.data(), n);
    dequantize_row(dtype, q.data(), y.data(), n);
    const int64_t block = 256;  // the largest block size: the bound holds per super-block
    for (int64_t b = 0; b < n; b += block) {
      float amax = 0.0f, max_err = 0.0f;
      for (int64_t i = b; i < b + block; ++i) {
        amax = std::max(amax, std::fabs(x[i]));
        max_err = std::max(max_err, std::fabs(x[i] - y[i]));
      }
      EXPECT_LE(max_err, fraction * amax) << dtype_name(dtype) << " block " << b / block;
    }
  }
}

TEST(Quant, RejectsPartialBlocks) {
  std::vector<float> x(48);
  std::vector<uint8_t> q(64);
  EXPECT_THROW(quantize_row(DType::Q4_1, x.data(), q.data(), 48), Error);
  EXPECT_THROW(dequantize_row(DType::Q4_K, q.data(), x.data(), 32), Error);
}

}  // namespace
}  // namespace strata::cpu
