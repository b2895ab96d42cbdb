// The real SmolLM2-135M-Instruct Q4_1 against Hugging Face transformers (which dequantizes
// the same GGUF to f32; tools/gen_golden_smollm2.py): per-position top-1 agreement and
// greedy 32-token continuations. Skips when the model file has not been fetched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "model/model.h"

namespace strata {
namespace {

std::string model_file() {
  const char* cache = std::getenv("STRATA_CACHE_DIR");
  const char* home = std::getenv("HOME");
  const std::string base = cache ? cache : std::string(home ? home : "") + "/.cache/strata";
  return base + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

int32_t argmax_row(const float* row, int64_t n) {
  return static_cast<int32_t>(std::max_element(row, row + n) - row);
}

class SmolLM2Golden : public testing::Test {
 protected:
  virtual bool int8_activations() const { return false; }
  void SetUp() override {
    if (!std::filesystem::exists(model_file())) GTEST_SKIP() << model_file() << " missing (scripts/fetch-model)";
    std::ifstream in(std::string(STRATA_SOURCE_DIR) + "/tests/model/data/golden_smollm2.json");
    ASSERT_TRUE(in) << "missing golden_smollm2.json";
    golden_ = nlohmann::json::parse(in);
    LoadOptions options;
    options.num_threads = 2;
    options.cpu_int8_activations = int8_activations();
    model_ = load_model(model_file(), options);
    kv_ = model_->backend().allocate_kv(model_->kv_layout(kBlocks, 16, DType::F16));
    blocks_.resize(kBlocks);
    std::iota(blocks_.begin(), blocks_.end(), 0);
  }

  // Prefills `tokens` (logits of every position), then decodes greedily `n` tokens.
  void run(const std::vector<int32_t>& tokens, int n, std::vector<int32_t>& top1, std::vector<int32_t>& greedy) {
    ForwardBatch batch;
    batch.add_sequence(tokens, 0, blocks_, 16, ForwardBatch::Logits::All);
    Tensor logits;
    model_->forward(batch, kv_, logits);
    const int64_t vocab = logits.size(1);
    for (int64_t r = 0; r < logits.size(0); ++r) top1.push_back(argmax_row(logits.data<float>() + r * vocab, vocab));
    last_prefill_logits_.assign(logits.data<float>(), logits.data<float>() + logits.numel());
    int32_t next = top1.back();
    for (int i = 0; i < n; ++i) {
      greedy.push_back(next);
      if (i + 1 == n) break;
      ForwardBatch step;
      step.add_sequence({next}, static_cast<int32_t>(tokens.size()) + i, blocks_, 16, ForwardBatch::Logits::Last);
      model_->forward(step, kv_, logits);
      next = argmax_row(logits.data<float>(), vocab);
    }
  }

  struct Agreement {
    int positions = 0, agree = 0, equal_continuations = 0, prompts = 0;
    double rate() const { return static_cast<double>(agree) / positions; }
  };
  void agreement_with_transformers(Agreement& out) {
  int positions = 0, agree = 0, equal_continuations = 0, prompts = 0;
  double max_error = 0;
  const int n = golden_.at("continuation_tokens").get<int>();
  for (const auto& p : golden_.at("prompts")) {
    const auto tokens = p.at("tokens").get<std::vector<int32_t>>();
    const auto expected_top1 = p.at("top1").get<std::vector<int32_t>>();
    const auto expected_greedy = p.at("greedy").get<std::vector<int32_t>>();
    std::vector<int32_t> top1, greedy;
    run(tokens, n, top1, greedy);
    ASSERT_EQ(top1.size(), expected_top1.size());
    int prompt_agree = 0;
    for (size_t i = 0; i < top1.size(); ++i) prompt_agree += top1[i] == expected_top1[i];
    positions += static_cast<int>(top1.size());
    agree += prompt_agree;
    // Logit error on the reference's top-5 tokens: how far the two computations drift.
    const auto top5_ids = p.at("top5_ids").get<std::vector<std::vector<int32_t>>>();
    const auto top5_logits = p.at("top5_logits").get<std::vector<std::vector<float>>>();
    const int64_t vocab = static_cast<int64_t>(last_prefill_logits_.size() / top1.size());
    double max_logit_error = 0;
    for (size_t r = 0; r < top5_ids.size(); ++r)
      for (size_t k = 0; k < top5_ids[r].size(); ++k)
        max_logit_error = std::max(max_logit_error, std::abs(double{last_prefill_logits_[r * vocab + top5_ids[r][k]]} -
                                                             double{top5_logits[r][k]}));
    max_error = std::max(max_error, max_logit_error);
    if (std::getenv("STRATA_GOLDEN_DEBUG")) {
      for (size_t r = 0; r < top5_ids.size(); ++r) std::cout << r << ":" << last_prefill_logits_[r * vocab + top5_ids[r][0]] - top5_logits[r][0] << " ";
      std::cout << "\n";
    }
    const bool same = greedy == expected_greedy;
    equal_continuations += same;
    ++prompts;
    size_t first_diff = 0;
    while (first_diff < greedy.size() && greedy[first_diff] == expected_greedy[first_diff]) ++first_diff;
    std::cout << p.at("kind").get<std::string>() << " prompt " << prompts << ": top-1 " << prompt_agree << "/"
              << top1.size() << ", max top-5 logit error " << max_logit_error << ", greedy " << (same ? "equal" : "differs at " + std::to_string(first_diff)) << "\n";
  }
  std::cout << "top-1 agreement " << agree << "/" << positions << " = " << 100.0 * agree / positions << "%; greedy "
            << equal_continuations << "/" << prompts << " equal\n";
  out = {positions, agree, equal_continuations, prompts};
  }

  static constexpr int kBlocks = 8;  // 128 tokens: the longest prompt + 32
  std::vector<float> last_prefill_logits_;
  nlohmann::json golden_;
  std::unique_ptr<CausalLM> model_;
  KVStorage kv_;
  std::vector<int32_t> blocks_;
};

TEST_F(SmolLM2Golden, TopOneAndGreedyAgreeWithTransformers) {
  Agreement a;
  agreement_with_transformers(a);
  EXPECT_GE(a.positions, 256);
  EXPECT_GE(a.rate(), 0.99);
  EXPECT_GE(a.equal_continuations, a.prompts - 1);
}

// The opt-in int8 activations (llama.cpp's rounding) are coarser: near-tie tokens change.
// Their agreement is bounded below so that the mode stays usable, and recorded: 272/277
// (98.2%) with the AVX2 kernels, 265/277 with the generic one (2026-12-04, Zen 3). Before the
// offsets of Q4_1 weights met the rounded activations' sums it was 84.1% (AVX2) and 89.9%
// (AVX-512, an Intel Xeon): the bound tells that bug from the mode's own error.
class SmolLM2GoldenInt8 : public SmolLM2Golden {
 protected:
  bool int8_activations() const override { return true; }
};

TEST_F(SmolLM2GoldenInt8, TopOneAgreesWithTransformersMostly) {
  Agreement a;
  agreement_with_transformers(a);
  EXPECT_GE(a.positions, 256);
  EXPECT_GE(a.rate(), 0.92);
}

}  // namespace
}  // namespace strata
