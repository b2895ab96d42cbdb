// strata bench serve: the serving benchmark's client (server/bench_client) against a
// running `strata serve` (or any OpenAI-compatible server), reported like vLLM's
// benchmark_serving. The workload is fixed-length: every request is a streamed
// /v1/completions call with `--input-len` random token ids as its prompt and
// `--output-len` generated tokens (ignore_eos, greedy), `--concurrency` clients sending
// back to back until `--requests` are done.
#include <cstdio>
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "server/bench_client.h"

namespace strata::cli {

int bench_serve_command(int argc, char** argv) {
  CLI::App app{"Serving benchmark against a running OpenAI-compatible server (like vLLM's "
               "benchmark_serving): fixed-length streamed /v1/completions requests",
               "strata bench serve"};
  ServingBenchConfig c;
  app.add_option("--url", c.url, "server base URL (http://host:port)")->capture_default_str();
  app.add_option("--model", c.model, "model name in the requests (default: the first of /v1/models)");
  app.add_option("--api-key", c.api_key, "sent as 'Authorization: Bearer KEY'");
  app.add_option("-c,--concurrency", c.concurrency, "clients sending requests at the same time")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("-n,--requests", c.requests, "requests in all")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--input-len", c.input_len, "prompt tokens per request (random ids)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--output-len", c.output_len, "generated tokens per request (ignore_eos)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--min-token-id", c.min_token_id, "prompt ids are drawn from [min, max)")->capture_default_str();
  app.add_option("--max-token-id", c.max_token_id, "prompt ids are drawn from [min, max)")->capture_default_str();
  app.add_option("--seed", c.seed, "seed of the random prompts (use a new one for each run against the same server: its prefix cache remembers earlier prompts)")->capture_default_str();
  app.add_flag("--no-warmup", [&c](int64_t) { c.warmup = false; }, "skip the untimed warm-up request");
  CLI11_PARSE(app, argc, argv);
  if (c.min_token_id < 0 || c.max_token_id <= c.min_token_id) {
    std::cerr << "strata bench serve: --min-token-id must be >= 0 and below --max-token-id\n";
    return 2;
  }
  std::printf("workload: %d requests, concurrency %d, %d prompt tokens (random ids) -> %d generated "
              "tokens each (streamed /v1/completions, greedy, ignore_eos)\n",
              c.requests, c.concurrency, c.input_len, c.output_len);
  std::fflush(stdout);
  try {
    ServingBenchResult result = run_serving_benchmark(c);
    std::fputs(format_serving_bench(c, result).c_str(), stdout);
    return result.failed == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "strata bench serve: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace strata::cli
