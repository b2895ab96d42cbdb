// Each logits processor against a plain reference written from its definition.
#include <gtest/gtest.h>

#include <map>
#include <unordered_map>
#include <vector>

#include "sampling/logits_processors.h"

namespace strata {
namespace {

std::vector<float> sample_logits() { return {2.0f, -1.5f, 0.0f, 3.25f, -0.5f, 1.0f, -4.0f, 0.75f}; }

TEST(RepetitionPenalty, DividesPositiveMultipliesNegative) {
  auto logits = sample_logits();
  const std::vector<int32_t> seen = {0, 1, 2, 6};
  apply_repetition_penalty(logits, seen, 2.0f);
  const std::vector<float> expected = {1.0f, -3.0f, 0.0f, 3.25f, -0.5f, 1.0f, -8.0f, 0.75f};
  EXPECT_EQ(logits, expected);
}

TEST(RepetitionPenalty, OneIsIdentityAndOutOfVocabIgnored) {
  auto logits = sample_logits();
  const std::vector<int32_t> seen = {0, 3, 99, -1};
  apply_repetition_penalty(logits, seen, 1.0f);
  EXPECT_EQ(logits, sample_logits());
  apply_repetition_penalty(logits, seen, 1.25f);
  EXPECT_FLOAT_EQ(logits[0], 2.0f / 1.25f);
  EXPECT_FLOAT_EQ(logits[3], 3.25f / 1.25f);
}

TEST(FrequencyPresence, SubtractsCountTimesFrequencyPlusPresence) {
  auto logits = sample_logits();
  const std::unordered_map<int32_t, int> counts = {{1, 3}, {4, 1}};
  apply_frequency_presence(logits, counts, 0.5f, 0.25f);
  auto expected = sample_logits();
  expected[1] -= 3 * 0.5f + 0.25f;
  expected[4] -= 1 * 0.5f + 0.25f;
  EXPECT_EQ(logits, expected);
}

TEST(FrequencyPresence, NegativePenaltiesEncourage) {
  auto logits = sample_logits();
  apply_frequency_presence(logits, {{2, 2}}, -1.0f, -0.5f);
  EXPECT_FLOAT_EQ(logits[2], 2.5f);
}

TEST(LogitBias, AddsBiasPerToken) {
  auto logits = sample_logits();
  apply_logit_bias(logits, {{0, -100.0f}, {7, 5.0f}, {50, 1.0f}});
  auto expected = sample_logits();
  expected[0] += -100.0f;
  expected[7] += 5.0f;
  EXPECT_EQ(logits, expected);
}

}  // namespace
}  // namespace strata
