#pragma once
// The serving benchmark's client (as vLLM's benchmark_serving): `concurrency` clients
// each send streamed /v1/completions requests back to back over keep-alive connections,
// until `requests` are done. Prompts are random token ids (so their length is exact) and
// ignore_eos makes every answer exactly output_len tokens long. Measures time to first
// token, inter-token latency (between streamed chunks), time per output token and
// end-to-end latency, and the throughputs.
#include <cstdint>
#include <string>

namespace strata {

struct ServingBenchConfig {
  std::string url = "http://127.0.0.1:8080";  // scheme, host and port; path ignored
  std::string model;        // empty: the first of GET /v1/models
  std::string api_key;
  int concurrency = 1;
  int requests = 64;
  int input_len = 128;
  int output_len = 128;
  int32_t min_token_id = 100;   // prompt ids are drawn from [min_token_id, max_token_id)
  int32_t max_token_id = 1000;
  uint64_t seed = 0;
  bool warmup = true;           // one untimed request first (as vLLM's benchmark does)
};

struct LatencySummary {
  double mean_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0;
};

struct ServingBenchResult {
  int completed = 0;
  int failed = 0;
  std::string first_error;
  double duration_s = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  double request_throughput = 0;       // requests/s
  double output_throughput = 0;        // generated tokens/s
  double total_token_throughput = 0;   // (prompt + generated) tokens/s
  LatencySummary ttft, tpot, itl, e2e;
};

// Throws strata::Error when the server cannot be reached at all.
ServingBenchResult run_serving_benchmark(const ServingBenchConfig& config);

// A report in the shape of vLLM's benchmark_serving output.
std::string format_serving_bench(const ServingBenchConfig& config, const ServingBenchResult& result);

}  // namespace strata
