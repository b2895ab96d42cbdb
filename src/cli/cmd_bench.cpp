// strata bench: prompt-processing (ppN: one forward pass of N tokens) and generation
// (tgN: N single-token steps from an empty cache) throughput, as llama-bench reports them:
// tokens/s, mean ± standard deviation over repetitions, after one warm-up run.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/device_options.h"
#include "model/llama_sequence_runner.h"
#include "model/model.h"

namespace strata::cli {

namespace {

struct BenchArgs {
  std::string model;
  int prompt_tokens = 512;
  int gen_tokens = 128;
  int repetitions = 5;
  int threads = 2;
};

int64_t parameter_count(const ModelConfig& c) {
  const int64_t d = c.hidden_size, q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;
  int64_t per_layer = d * (q + 2 * kv) + q * d + 3 * d * c.intermediate_size + 2 * d;
  if (c.qkv_bias) per_layer += q + 2 * kv;
  if (c.qk_norm) per_layer += 2 * c.head_dim;
  const int64_t embeddings = int64_t{c.vocab_size} * d * (c.tied_embeddings ? 1 : 2);
  return embeddings + c.num_layers * per_layer + d;
}

// Token ids for the benchmark: fixed, spread over the vocabulary.
std::vector<int32_t> bench_tokens(int n, int vocab) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<size_t>(i)] = static_cast<int32_t>((int64_t{i} * 7919 + 13) % vocab);
  return t;
}

struct Stats {
  double mean = 0, stddev = 0;
};

Stats measure(int repetitions, int tokens, const std::function<void()>& run_once) {
  run_once();  // warm-up
  std::vector<double> rates;
  for (int r = 0; r < repetitions; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run_once();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(tokens / s);
  }
  Stats st;
  for (double x : rates) st.mean += x / static_cast<double>(rates.size());
  for (double x : rates) st.stddev += (x - st.mean) * (x - st.mean);
  st.stddev = rates.size() > 1 ? std::sqrt(st.stddev / static_cast<double>(rates.size() - 1)) : 0.0;
  return st;
}

void print_row(const std::string& model, double size_mib, int64_t params, int threads, const std::string& test,
               Stats st) {
  std::printf("| %-32s | %10.2f MiB | %8.2f M | %7d | %6s | %10.2f ± %-7.2f |\n", model.c_str(), size_mib,
              static_cast<double>(params) / 1e6, threads, test.c_str(), st.mean, st.stddev);
  std::fflush(stdout);
}

}  // namespace

int bench_command(int argc, char** argv) {
  // `strata bench offline ...` and `strata bench serve ...` are workloads of their own.
  if (argc >= 2 && std::string_view(argv[1]) == "offline") return bench_offline_command(argc - 1, argv + 1);
  if (argc >= 2 && std::string_view(argv[1]) == "serve") return bench_serve_command(argc - 1, argv + 1);
  CLI::App app{"Prompt-processing and generation throughput (also: strata bench offline | serve --help)",
               "strata bench"};
  BenchArgs a;
  app.add_option("-m,--model", a.model, "GGUF file or Hugging Face directory")->required();
  app.add_option("-p,--n-prompt", a.prompt_tokens, "prompt tokens (ppN; 0: skip)")->check(CLI::NonNegativeNumber);
  app.add_option("-n,--n-gen", a.gen_tokens, "generated tokens (tgN; 0: skip)")->check(CLI::NonNegativeNumber);
  app.add_option("-r,--repetitions", a.repetitions, "repetitions")->check(CLI::PositiveNumber);
  app.add_option("-t,--threads", a.threads, "CPU threads")->check(CLI::PositiveNumber);
  DeviceArgs device;
  add_device_options(app, device, /*engine=*/false);
  CLI11_PARSE(app, argc, argv);

  const LoadOptions options = load_options(device, a.threads);
  auto model = load_model(a.model, options);
  std::fprintf(stderr, "backend: %s\n", model->backend().name().c_str());
  const ModelConfig& c = model->config();
  const int context = std::max(a.prompt_tokens, a.gen_tokens) + 1;
  SequenceRunner runner(*model, context, DType::F16, std::max(a.prompt_tokens, 1));
  const std::string name = std::filesystem::path(a.model).filename().string();
  const double size_mib = static_cast<double>(model->weight_bytes()) / (1024.0 * 1024.0);
  const int64_t params = parameter_count(c);

  std::printf("| %-32s | %14s | %10s | %7s | %6s | %20s |\n", "model", "size", "params", "threads", "test", "t/s");
  std::printf("| %s | %s | %s | %s | %s | %s |\n", std::string(32, '-').c_str(), std::string(14, '-').c_str(),
              std::string(10, '-').c_str(), std::string(7, '-').c_str(), std::string(6, '-').c_str(),
              std::string(20, '-').c_str());
  if (a.prompt_tokens > 0) {
    const auto prompt = bench_tokens(a.prompt_tokens, c.vocab_size);
    const Stats st = measure(a.repetitions, a.prompt_tokens, [&] {
      runner.reset();
      runner.prefill(prompt);
    });
    print_row(name, size_mib, params, a.threads, "pp" + std::to_string(a.prompt_tokens), st);
  }
  if (a.gen_tokens > 0) {
    const auto tokens = bench_tokens(a.gen_tokens, c.vocab_size);
    const Stats st = measure(a.repetitions, a.gen_tokens, [&] {
      runner.reset();
      for (int32_t t : tokens) runner.decode(t);
    });
    print_row(name, size_mib, params, a.threads, "tg" + std::to_string(a.gen_tokens), st);
  }
  return 0;
}

}  // namespace strata::cli
