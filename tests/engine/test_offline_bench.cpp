// The offline benchmark's workloads have the lengths they state, and the runner counts
// every request's tokens (served by the fake-model engine).
#include <gtest/gtest.h>

#include <numeric>

#include "engine/offline_bench.h"
#include "fake_model.h"

namespace strata::testing {
namespace {

TEST(OfflineBench, FixedWorkloadHasExactLengths) {
  const OfflineWorkload w = make_fixed_workload(16, 1000, 1, 128, 64);
  ASSERT_EQ(w.requests.size(), 16u);
  for (const auto& r : w.requests) {
    EXPECT_EQ(r.prompt_tokens.size(), 128u);
    EXPECT_EQ(r.stop.max_tokens, 64);
    EXPECT_TRUE(r.stop.ignore_eos);
  }
  EXPECT_NE(w.requests[0].prompt_tokens, w.requests[1].prompt_tokens);
}

TEST(OfflineBench, SharedPrefixRequestsShareExactlyThePrefix) {
  const OfflineWorkload w = make_shared_prefix_workload(64, 1000, 2, 1024, 32);
  ASSERT_EQ(w.requests.size(), 64u);
  const auto& first = w.requests[0].prompt_tokens;
  for (const auto& r : w.requests) {
    const size_t question = r.prompt_tokens.size() - 1024;
    EXPECT_GE(question, 16u);
    EXPECT_LE(question, 48u);
    EXPECT_TRUE(std::equal(first.begin(), first.begin() + 1024, r.prompt_tokens.begin()));
    EXPECT_EQ(r.stop.max_tokens, 32);
  }
}

TEST(OfflineBench, ChatLengthsFollowTheStatedDistribution) {
  const OfflineWorkload w = make_chat_workload(4000, 1000, 3, 200, 128);
  double input_sum = 0, output_sum = 0;
  for (const auto& r : w.requests) {
    const int input = static_cast<int>(r.prompt_tokens.size());
    EXPECT_GE(input, 4);
    EXPECT_LE(input, 800);
    EXPECT_GE(r.stop.max_tokens, 4);
    EXPECT_LE(r.stop.max_tokens, 512);
    input_sum += input;
    output_sum += r.stop.max_tokens;
  }
  // Log-normal with the stated means; clamping the long tail lowers them a little.
  EXPECT_NEAR(input_sum / 4000, 200, 20);
  EXPECT_NEAR(output_sum / 4000, 128, 10);
}

TEST(OfflineBench, RunCountsEveryRequestsTokens) {
  EngineConfig config;
  config.block_size = 4;
  config.num_kv_blocks = 512;
  config.kv_dtype = DType::F32;
  config.max_num_seqs = 8;
  config.log_startup = false;
  auto engine = make_engine(make_fake_model(), make_fake_tokenizer(), config);
  // Token ids of the fake vocabulary (64) are all "special" to the workload generator,
  // which then draws from the top id only: every prompt is the same token.
  const OfflineWorkload w = make_fixed_workload(10, kFakeVocab, 4, 20, 7);
  const OfflineBenchResult r = run_offline_bench(*engine, w);
  EXPECT_EQ(r.requests, 10);
  EXPECT_EQ(r.failed, 0);
  EXPECT_EQ(r.input_tokens, 200);
  EXPECT_EQ(r.output_tokens, 70);
  EXPECT_GT(r.output_tokens_per_second, 0);
  EXPECT_GT(r.mean_ttft_seconds, 0);
  EXPECT_LE(r.mean_ttft_seconds, r.seconds);
  // The generation after the last first token: a part of the output (not that first token)
  // and of the time.
  EXPECT_GE(r.decode_tokens, 0);
  EXPECT_LE(r.decode_tokens, r.output_tokens - 1);
  EXPECT_GE(r.decode_seconds, 0);
  EXPECT_LE(r.decode_seconds, r.seconds);
  EXPECT_NE(format_offline_result(r).find("decode"), std::string::npos);
  // The engine times its steps and the model's part of them.
  const EngineStats stats = engine->stats();
  EXPECT_GT(stats.steps, 0);
  EXPECT_GT(stats.step_seconds, 0);
  EXPECT_GE(stats.model_seconds, 0);
  EXPECT_LE(stats.model_seconds, stats.step_seconds);
  EXPECT_NE(format_offline_result(r).find("10 requests"), std::string::npos);
}

}  // namespace
}  // namespace strata::testing
