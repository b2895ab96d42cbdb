// The serving benchmark's client against the server over the fake engine: counts are
// exact (the fake emits exactly max_tokens tokens) and latencies are plausible.
#include "server/bench_client.h"
#include "server_fixture.h"

namespace strata::testing {
namespace {

TEST_F(ServerTest, ServingBenchmarkCountsAndLatencies) {
  FakeEngineOptions options;
  options.token_delay = std::chrono::milliseconds(2);
  start(test_server_config(), options);
  ServingBenchConfig config;
  config.url = "http://127.0.0.1:" + std::to_string(port());
  config.concurrency = 4;
  config.requests = 12;
  config.input_len = 8;
  config.output_len = 10;
  config.max_token_id = FakeTokenizer::kVocab;
  ServingBenchResult r = run_serving_benchmark(config);
  EXPECT_EQ(r.completed, 12) << r.first_error;
  EXPECT_EQ(r.failed, 0);
  EXPECT_EQ(r.input_tokens, 12 * 8);
  EXPECT_EQ(r.output_tokens, 12 * 10);
  EXPECT_GE(r.ttft.p50_ms, 2.0);   // the fake's first token takes one delay
  EXPECT_GE(r.itl.p50_ms, 1.0);
  EXPECT_LE(r.ttft.p50_ms, r.ttft.p99_ms);
  EXPECT_GE(r.e2e.p50_ms, 10 * 2.0);
  EXPECT_GT(r.output_throughput, 0);
  std::string report = format_serving_bench(config, r);
  EXPECT_NE(report.find("Median TTFT (ms):"), std::string::npos);
  EXPECT_NE(report.find("P99 ITL (ms):"), std::string::npos);
}

TEST_F(ServerTest, ServingBenchmarkReportsHttpErrors) {
  ServingBenchConfig config;
  config.url = "http://127.0.0.1:" + std::to_string(port());
  config.requests = 2;
  config.input_len = 300;  // longer than the fake's context: 400
  config.max_token_id = FakeTokenizer::kVocab;
  ServingBenchResult r = run_serving_benchmark(config);
  EXPECT_EQ(r.completed, 0);
  EXPECT_EQ(r.failed, 2);
  EXPECT_EQ(r.first_error, "HTTP 400");
}

}  // namespace
}  // namespace strata::testing
