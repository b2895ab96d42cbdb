// The sequence sampler: greedy, seeded reproducibility, empirical frequencies against the
// expected filtered distribution, penalties wired in, logprobs from the raw logits.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "sampling/sampler.h"

namespace strata {
namespace {

const std::vector<float> kLogits = {1.0f, 2.5f, 0.3f, -1.0f, 2.0f, 0.9f, -3.0f, 1.6f};

std::vector<int32_t> draw_many(const SamplingParams& p, uint64_t seed, int n) {
  SequenceSampler s(p, seed, {});
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    auto l = kLogits;
    out.push_back(s.sample(l).token);
  }
  return out;
}

TEST(Sampler, GreedyIsArgmax) {
  SamplingParams p;
  p.temperature = 0.0f;
  SequenceSampler s(p, 1, {});
  auto l = kLogits;
  EXPECT_EQ(s.sample(l).token, 1);
}

TEST(Sampler, SameSeedSameTokens) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.95f;
  EXPECT_EQ(draw_many(p, 42, 200), draw_many(p, 42, 200));
  EXPECT_NE(draw_many(p, 42, 200), draw_many(p, 43, 200));
}

// Chi-square statistic of observed counts against the expected filtered distribution.
double chi_square(const std::vector<int32_t>& draws, const std::map<int32_t, double>& expected) {
  std::map<int32_t, int> counts;
  for (int32_t t : draws) ++counts[t];
  double chi = 0;
  for (const auto& [t, p] : expected) {
    const double e = p * static_cast<double>(draws.size());
    const double o = counts.count(t) ? counts[t] : 0;
    chi += (o - e) * (o - e) / e;
  }
  return chi;
}

TEST(Sampler, FrequenciesFollowFilteredDistribution) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 5;     // keeps tokens 1, 4, 7, 0, 5
  p.top_p = 0.95f;
  const auto draws = draw_many(p, 7, 40000);
  // Expected: softmax(l / 0.8) over the top 5, then the nucleus of 0.95.
  std::vector<int32_t> order = {1, 4, 7, 0, 5};
  std::vector<double> w;
  double z = 0;
  for (int32_t t : order) z += w.emplace_back(std::exp((kLogits[t] - kLogits[1]) / 0.8));
  size_t keep = order.size();
  double cum = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    cum += w[i] / z;
    if (cum >= 0.95) { keep = i + 1; break; }
  }
  double zk = 0;
  for (size_t i = 0; i < keep; ++i) zk += w[i];
  std::map<int32_t, double> expected;
  for (size_t i = 0; i < keep; ++i) expected[order[i]] = w[i] / zk;
  for (int32_t t : draws) ASSERT_TRUE(expected.count(t)) << "token " << t << " is outside the filtered set";
  // df = keep - 1 <= 4; 20 is far in the tail (p < 0.001).
  EXPECT_LT(chi_square(draws, expected), 20.0);
}

TEST(Sampler, UnfilteredFrequencies) {
  SamplingParams p;
  const auto draws = draw_many(p, 11, 40000);
  std::map<int32_t, double> expected;
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  for (size_t i = 0; i < kLogits.size(); ++i) expected[static_cast<int32_t>(i)] = std::exp(kLogits[i]) / z;
  EXPECT_LT(chi_square(draws, expected), 26.0);  // df = 7, p < 0.001
}

TEST(Sampler, RepetitionPenaltyCoversPromptAndOutput) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = 3.0f;
  const std::vector<int32_t> prompt = {1};
  SequenceSampler s(p, 1, prompt);
  auto l = kLogits;  // token 1 (2.5) penalised to 0.83: token 4 (2.0) wins
  EXPECT_EQ(s.sample(l).token, 4);
  s.accept(4);
  l = kLogits;  // 4 -> 0.67, 1 -> 0.83: token 7 (1.6) wins
  EXPECT_EQ(s.sample(l).token, 7);
}

TEST(Sampler, PresencePenaltyOnlyCountsOutput) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.presence_penalty = 1.0f;
  const std::vector<int32_t> prompt = {1};
  SequenceSampler s(p, 1, prompt);
  auto l = kLogits;
  EXPECT_EQ(s.sample(l).token, 1);
  s.accept(1);
  l = kLogits;  // 2.5 - 1 = 1.5 < 2.0
  EXPECT_EQ(s.sample(l).token, 4);
}

TEST(Sampler, LogprobsComeFromRawLogits) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.logit_bias = {{6, 100.0f}};
  p.logprobs = true;
  p.top_logprobs = 3;
  SequenceSampler s(p, 1, {});
  auto l = kLogits;
  auto r = s.sample(l);
  EXPECT_EQ(r.token, 6);
  double z = 0;
  for (float x : kLogits) z += std::exp(static_cast<double>(x));
  EXPECT_NEAR(r.logprob, kLogits[6] - std::log(z), 1e-5);
  ASSERT_EQ(r.top_logprobs.size(), 3u);
  EXPECT_EQ(r.top_logprobs[0].first, 1);
  EXPECT_EQ(r.top_logprobs[1].first, 4);
  EXPECT_EQ(r.top_logprobs[2].first, 7);
  EXPECT_NEAR(r.top_logprobs[0].second, kLogits[1] - std::log(z), 1e-5);
}

TEST(Sampler, LargeVocabTopKIsFast) {
  SamplingParams p;
  p.top_k = 40;
  p.top_p = 0.9f;
  SequenceSampler s(p, 3, {});
  std::vector<float> logits(151936);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>((i * 2654435761u) % 1000) / 100.0f;
  for (int step = 0; step < 200; ++step) {
    auto l = logits;
    const int32_t t = s.sample(l).token;
    ASSERT_GE(logits[static_cast<size_t>(t)], 9.5f);
  }
}

// Only plain greedy sampling may skip the logits (the engine then samples from the
// backend's argmax): any penalty, bias, logprobs or temperature needs them.
TEST(Sampler, OnlyPlainGreedyReadsNoLogits) {
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  EXPECT_FALSE(SequenceSampler(greedy, 1, {}).reads_logits());
  std::vector<SamplingParams> others(7, greedy);
  others[0].temperature = 0.7f;
  others[1].logprobs = true;
  others[2].top_logprobs = 2;
  others[3].repetition_penalty = 1.1f;
  others[4].frequency_penalty = 0.5f;
  others[5].presence_penalty = -0.5f;
  others[6].logit_bias[3] = 5.0f;
  for (const auto& p : others) EXPECT_TRUE(SequenceSampler(p, 1, {}).reads_logits());
}

TEST(Sampler, GreedyFromArgmaxEqualsGreedyFromLogits) {
  SamplingParams p;
  p.temperature = 0.0f;
  SequenceSampler s(p, 1, {});
  auto l = kLogits;
  const SampleResult from_logits = s.sample(l);
  const SampleResult from_argmax = s.sample_greedy(1);
  EXPECT_EQ(from_argmax.token, from_logits.token);
  EXPECT_EQ(from_argmax.logprob, from_logits.logprob);
  EXPECT_TRUE(from_argmax.top_logprobs.empty());
}

}  // namespace
}  // namespace strata
