// The serving benchmark's client against the server over the fake engine: counts are
// exact (the fake emits exactly max_tokens tokens) and latencies are plausible.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>

#include "core/error.h"
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
  config.max_token_id = ByteTokenizer::kVocab;
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
  // Every count has its own line (a too-small line buffer once cut "Failed requests" off).
  EXPECT_NE(report.find("\nSuccessful requests:                               12\n"), std::string::npos) << report;
  EXPECT_NE(report.find("\nFailed requests:                                    0\n"), std::string::npos) << report;
  EXPECT_NE(report.find("\nTotal generated tokens:                           120\n"), std::string::npos) << report;
}

TEST_F(ServerTest, ServingBenchmarkReportsHttpErrors) {
  ServingBenchConfig config;
  config.url = "http://127.0.0.1:" + std::to_string(port());
  config.requests = 2;
  config.input_len = 300;  // longer than the fake's context: 400
  config.max_token_id = ByteTokenizer::kVocab;
  EXPECT_THROW(run_serving_benchmark(config), strata::Error);  // the warm-up request fails first
  config.warmup = false;
  ServingBenchResult r = run_serving_benchmark(config);
  EXPECT_EQ(r.completed, 0);
  EXPECT_EQ(r.failed, 2);
  EXPECT_EQ(r.first_error, "HTTP 400");
}

}  // namespace
}  // namespace strata::testing

namespace strata::testing {
namespace {

// Not a test: a measurement of what the HTTP layer itself costs (run it with
// --gtest_also_run_disabled_tests --gtest_filter='*ServerOverhead*'). The engine answers
// instantly, so time to first token is the server's (and the client's) own latency, and
// CPU per streamed token bounds the server's share of a real engine's throughput.
double metric_value(const std::string& metrics, const std::string& name) {
  auto at = metrics.find("\n" + name + " ");
  return at == std::string::npos ? 0 : std::stod(metrics.substr(at + name.size() + 2));
}

TEST_F(ServerTest, DISABLED_MeasureServerOverheadWithInstantEngine) {
  // Floors: keep-alive round trips without a job thread, then a one-token generation.
  const std::string one_token = R"({"prompt": [1, 2, 3], "max_tokens": 1})";
  for (auto [method, target, body] : {std::tuple{"GET", "/health", ""}, std::tuple{"POST", "/tokenize", one_token.c_str()},
                                      std::tuple{"POST", "/v1/completions", one_token.c_str()}}) {
    Connection c(port());
    std::vector<double> ms;
    for (int i = 0; i < 500; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      c.send(http_request(method, target, body));
      c.read_reply();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%s %s keep-alive round trip: median %.3f ms, p90 %.3f ms\n", method, target, ms[250], ms[450]);
  }
  {  // time to the first streamed token, read as raw bytes (no HTTP parser on the client)
    std::vector<double> ms, header_ms;
    const std::string body = R"({"prompt": [1, 2, 3], "max_tokens": 2, "stream": true})";
    for (int i = 0; i < 300; ++i) {
      Connection c(port());
      auto t0 = std::chrono::steady_clock::now();
      c.send(http_request("POST", "/v1/completions", body));
      c.read_until("\r\n\r\n", std::chrono::seconds(5));
      header_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      c.read_until("\"text\":\"C", std::chrono::seconds(5));
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      c.read_until("[DONE]", std::chrono::seconds(5));
    }
    std::sort(ms.begin(), ms.end());
    std::sort(header_ms.begin(), header_ms.end());
    std::printf("streamed, raw client: headers after median %.3f ms; first token after median %.3f ms, p90 %.3f ms\n\n",
                header_ms[150], ms[150], ms[270]);
  }
  // The sweep: an engine that emits a token per choice every millisecond (an instant one
  // would emit the whole answer in one burst, and on 2 busy cores the first chunk then
  // waits for the CPU behind the rest). Time to first token minus 1 ms is the overhead.
  FakeEngineOptions one_ms;
  one_ms.token_delay = std::chrono::milliseconds(1);
  start(test_server_config(), one_ms);
  for (int concurrency : {1, 16, 64}) {
    const std::string before_metrics = get("/metrics").body;
    ServingBenchConfig config;
    config.url = "http://127.0.0.1:" + std::to_string(port());
    config.concurrency = concurrency;
    config.requests = 50 * std::min(concurrency, 8);
    config.input_len = 128;
    config.output_len = 64;
    config.max_token_id = 256;  // bytes of the fake tokenizer
    rusage before{}, after{};
    getrusage(RUSAGE_SELF, &before);
    ServingBenchResult r = run_serving_benchmark(config);
    getrusage(RUSAGE_SELF, &after);
    auto seconds = [](const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); };
    double cpu = seconds(after.ru_utime) - seconds(before.ru_utime) + seconds(after.ru_stime) -
                 seconds(before.ru_stime);
    std::printf("%s", format_serving_bench(config, r).c_str());
    const std::string after_metrics = get("/metrics").body;
    auto delta = [&](const std::string& name) {
      return metric_value(after_metrics, name) - metric_value(before_metrics, name);
    };
    std::printf("CPU (server and client together): %.1f us per streamed token\n",
                1e6 * cpu / double(std::max<int64_t>(1, r.output_tokens)));
    std::printf("server-side mean TTFT (job start to first token, 1 ms of it the engine's): %.3f ms\n\n",
                1e3 * delta("strata_time_to_first_token_seconds_sum") /
                    std::max(1.0, delta("strata_time_to_first_token_seconds_count")));
  }
}

}  // namespace
}  // namespace strata::testing
