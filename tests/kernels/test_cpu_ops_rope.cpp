// Rotary embeddings against goldens from transformers (tools/gen_rope_reference.py).
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/cpu/rope.h"
#include "core/error.h"
#include "test_cpu_ops_util.h"

namespace strata {
namespace {

nlohmann::json load_reference() {
  std::ifstream in(std::string(STRATA_SOURCE_DIR) + "/tests/kernels/data/rope_reference.json");
  EXPECT_TRUE(in.good()) << "missing rope_reference.json; run tools/gen_rope_reference.py";
  return nlohmann::json::parse(in);
}

RopeConfig config_of(const nlohmann::json& c) {
  RopeConfig cfg;
  cfg.head_dim = c["head_dim"];
  cfg.rotary_dim = c["rotary_dim"];
  cfg.theta = c["theta"];
  cfg.neox = c["neox"];
  const std::string scaling = c["scaling"];
  cfg.scaling = scaling == "llama3" ? RopeConfig::Scaling::Llama3
                : scaling == "linear" ? RopeConfig::Scaling::Linear
                                      : RopeConfig::Scaling::None;
  if (c.contains("factor")) cfg.factor = c["factor"];
  if (c.contains("low_freq_factor")) cfg.low_freq_factor = c["low_freq_factor"];
  if (c.contains("high_freq_factor")) cfg.high_freq_factor = c["high_freq_factor"];
  if (c.contains("original_max_positions")) cfg.original_max_positions = c["original_max_positions"];
  return cfg;
}

// One sequence holding the case's positions as its new tokens (positions need not be
// consecutive for rope, so the batch is assembled by hand).
BatchTensors batch_with_positions(const std::vector<int32_t>& positions) {
  BatchTensors b;
  b.num_tokens = static_cast<int>(positions.size());
  b.positions = test::i32_vector(positions);
  return b;
}

// The reference is held in a variable: `for (c : load_reference()["cases"])` iterates a
// member of a temporary destroyed before the loop body runs (heap-use-after-free, found by
// the sanitizer build; a range-for only extends the life of the outermost temporary).
TEST(CpuRope, InverseFrequenciesMatchTransformers) {
  const nlohmann::json reference = load_reference();
  for (const auto& c : reference["cases"]) {
    const std::vector<float> inv_freq = cpu::rope_inv_freq(config_of(c));
    const std::vector<double> expected = c["inv_freq"];
    ASSERT_EQ(inv_freq.size(), expected.size()) << c["name"];
    for (size_t i = 0; i < expected.size(); ++i)
      // Up to 4 ulp: transformers computes base ** (2i / d) in float32, Strata in double and
      // rounds once (the llama3 cases measure 4.6e-7).
      EXPECT_TRUE(test::near(inv_freq[i], expected[i], 0, 5e-7)) << c["name"] << " frequency " << i;
  }
}

TEST(CpuRope, RotationMatchesTransformers) {
  auto backend = test::test_backend();
  const nlohmann::json reference = load_reference();
  for (const auto& c : reference["cases"]) {
    const RopeConfig cfg = config_of(c);
    const std::vector<float> inv_freq = cpu::rope_inv_freq(cfg);
    const std::vector<int32_t> positions = c["positions"];
    const int64_t tokens = static_cast<int64_t>(positions.size()), heads = c["num_heads"];
    const std::vector<double> input = c["input"], expected = c["expected"];
    // The heads sit inside a wider fused row, as q and k do in a QKV projection.
    Tensor fused = test::random_tensor({tokens, heads + 3, cfg.head_dim}, 9);
    Tensor x = fused.slice(1, 1, 1 + heads);
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < cfg.head_dim; ++i)
          x.data<float>()[t * x.stride(0) + h * x.stride(1) + i] =
              static_cast<float>(input[static_cast<size_t>((t * heads + h) * cfg.head_dim + i)]);
    const float untouched = test::at3(fused, 0, 0, 0);
    backend->rope(x, batch_with_positions(positions), cfg);
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < cfg.head_dim; ++i) {
          const double want = expected[static_cast<size_t>((t * heads + h) * cfg.head_dim + i)];
          // f32 rounding of cos/sin and of the products, plus the angle's error: the
          // golden's frequencies are transformers' float32 ones, which differ from Strata's
          // by up to 5e-7 relative (above); at position p that moves the angle by
          // p * freq * 5e-7 and the rotated value (|x| <= 2 per component) by up to 3x that.
          const int64_t pair = i < cfg.rotary_dim ? (cfg.neox ? i % (cfg.rotary_dim / 2) : i / 2) : -1;
          const double angle_error =
              pair < 0 ? 0.0 : positions[static_cast<size_t>(t)] * inv_freq[static_cast<size_t>(pair)] * 5e-7;
          ASSERT_TRUE(test::near(test::at3(x, t, h, i), want, 2e-6 + 3 * angle_error, 2e-6))
              << c["name"] << " position " << positions[static_cast<size_t>(t)] << " head " << h << " dim " << i;
        }
    EXPECT_EQ(test::at3(fused, 0, 0, 0), untouched);
  }
}

TEST(CpuRope, ManyTokensAcrossThreads) {
  // Enough tokens to go parallel; compared with a double-precision NeoX reference.
  auto backend = test::test_backend();
  RopeConfig cfg;
  cfg.head_dim = cfg.rotary_dim = 16;
  cfg.theta = 10000.f;
  const int64_t tokens = 300, heads = 4;
  std::vector<int32_t> positions(static_cast<size_t>(tokens));
  for (int64_t t = 0; t < tokens; ++t) positions[static_cast<size_t>(t)] = static_cast<int32_t>(t * 7 % 5000);
  Tensor x = test::random_tensor({tokens, heads, 16}, 21);
  std::vector<float> before(x.data<float>(), x.data<float>() + x.numel());
  backend->rope(x, batch_with_positions(positions), cfg);
  const std::vector<float> inv_freq = cpu::rope_inv_freq(cfg);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < 8; ++i) {
        const double angle = double(positions[static_cast<size_t>(t)]) * inv_freq[static_cast<size_t>(i)];
        const float* src = before.data() + (t * heads + h) * 16;
        const double a = src[i] * std::cos(angle) - src[i + 8] * std::sin(angle);
        const double b = src[i + 8] * std::cos(angle) + src[i] * std::sin(angle);
        ASSERT_TRUE(test::near(test::at3(x, t, h, i), a, 2e-6, 2e-6));
        ASSERT_TRUE(test::near(test::at3(x, t, h, i + 8), b, 2e-6, 2e-6));
      }
}

TEST(CpuRope, RejectsBadInput) {
  auto backend = test::test_backend();
  RopeConfig cfg;
  cfg.head_dim = 8;
  Tensor x = test::random_tensor({2, 1, 6}, 1);
  EXPECT_THROW(backend->rope(x, batch_with_positions({0, 1}), cfg), Error);
  Tensor y = test::random_tensor({2, 1, 8}, 1);
  EXPECT_THROW(backend->rope(y, batch_with_positions({0, -1}), cfg), Error);
  cfg.rotary_dim = 7;
  EXPECT_THROW(backend->rope(y, batch_with_positions({0, 1}), cfg), Error);
}

}  // namespace
}  // namespace strata
