// strata bench offline: serving throughput over a synthetic workload. Every request is
// submitted at once to the serving engine (continuous batching, chunked prefill, prefix
// cache), which serves them as fast as it can; prints the workload's length
// distributions, requests/s, input and output tokens/s and the mean time to first token.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/device_options.h"
#include "core/error.h"
#include "engine/engine.h"
#include "engine/engine_config.h"
#include "engine/offline_bench.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace strata::cli {

namespace {

struct OfflineArgs {
  std::string model;
  int threads = 2;
  std::string workload = "chat";
  int requests = 0;       // 0: the workload's default
  int input_len = 0;      // fixed: exact; chat: mean; 0: the workload's default
  int output_len = 0;     // fixed/shared-prefix: exact; chat: mean; 0: the workload's default
  int prefix_len = 1024;  // shared-prefix only
  uint64_t seed = 0;
  float temperature = 0.0f;  // every request's sampling (0: greedy), seeded by its index
  float top_p = 1.0f;
  int top_k = -1;
  bool warmup = true;
  EngineConfig engine;
  DeviceArgs device;
};

void add_options(CLI::App& app, OfflineArgs& a) {
  app.add_option("-m,--model", a.model, "GGUF file or Hugging Face directory")->required();
  app.add_option("-t,--threads", a.threads, "CPU threads")->check(CLI::PositiveNumber)->capture_default_str();
  add_device_options(app, a.device, /*engine=*/true);
  app.add_option("--workload", a.workload,
                 "chat: lengths drawn like a chat dataset (log-normal; --input-len/--output-len are means, "
                 "default 200/128, 64 requests); shared-prefix: requests sharing a --prefix-len system prompt "
                 "plus a 16-48-token question (default 64 requests, 32 output tokens); fixed: exact "
                 "--input-len/--output-len (default 128/128, 16 requests)")
      ->check(CLI::IsMember({"chat", "shared-prefix", "fixed"}))
      ->capture_default_str();
  app.add_option("--requests", a.requests, "number of requests (0: the workload's default)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--input-len", a.input_len, "input tokens (fixed: exact; chat: mean)")->check(CLI::NonNegativeNumber);
  app.add_option("--output-len", a.output_len, "output tokens (fixed, shared-prefix: exact; chat: mean)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--prefix-len", a.prefix_len, "shared system-prompt tokens (shared-prefix)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--seed", a.seed, "workload seed")->capture_default_str();
  app.add_option("--temperature", a.temperature, "sampling temperature of every request (0: greedy)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--top-p", a.top_p, "nucleus sampling of every request")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--top-k", a.top_k, "top-k sampling of every request (-1: off)")->capture_default_str();
  app.add_option("--max-num-seqs", a.engine.max_num_seqs, "concurrent sequences at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-batched-tokens", a.engine.max_batched_tokens, "tokens per engine step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--num-kv-blocks", a.engine.num_kv_blocks, "exact number of KV blocks (0: engine default)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--block-size", a.engine.block_size, "tokens per KV block")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_flag("--no-prefix-caching", [&a](int64_t) { a.engine.enable_prefix_caching = false; },
               "disable the prefix cache");
  app.add_flag("--no-warmup", [&a](int64_t) { a.warmup = false; }, "skip the untimed warm-up request");
}

OfflineWorkload make_workload(const OfflineArgs& a, int vocab) {
  auto pick = [](int value, int fallback) { return value > 0 ? value : fallback; };
  if (a.workload == "fixed")
    return make_fixed_workload(pick(a.requests, 16), vocab, a.seed, pick(a.input_len, 128), pick(a.output_len, 128));
  if (a.workload == "shared-prefix")
    return make_shared_prefix_workload(pick(a.requests, 64), vocab, a.seed, a.prefix_len, pick(a.output_len, 32));
  return make_chat_workload(pick(a.requests, 64), vocab, a.seed, pick(a.input_len, 200), pick(a.output_len, 128));
}

// One short request before timing, so page faults on the weights and first-use
// allocations are not charged to the workload. Its tokens differ from every workload's
// (ids below 256 are never drawn), so it puts nothing useful in the prefix cache.
void warm_up(Engine& engine) {
  GenerationRequest r;
  r.request_id = "warmup";
  for (int32_t t = 0; t < 32; ++t) r.prompt_tokens.push_back(t + 1);
  r.stop.max_tokens = 4;
  r.stop.ignore_eos = true;
  auto stream = engine.submit(std::move(r));
  while (true) {
    auto out = stream->next(std::chrono::minutes(10));
    if (!out || out->finished) break;
  }
}

}  // namespace

int bench_offline_command(int argc, char** argv) {
  CLI::App app{"Offline serving throughput over a synthetic workload", "strata bench offline"};
  OfflineArgs a;
  add_options(app, a);
  CLI11_PARSE(app, argc, argv);

  auto [tokenizer, model] = load_engine_inputs(a.model, a.threads, a.device, a.engine);
  std::printf("backend: %s\n", model->backend().name().c_str());
  const int vocab = model->config().vocab_size;
  OfflineWorkload workload = make_workload(a, vocab);
  for (size_t i = 0; i < workload.requests.size(); ++i) {
    SamplingParams& p = workload.requests[i].sampling;
    p.temperature = a.temperature, p.top_p = a.top_p, p.top_k = a.top_k, p.seed = a.seed + i;
  }
  a.engine.max_queued = static_cast<int>(workload.requests.size()) + 2;
  const bool on_backend = samples_on_backend(a.engine, model->backend());
  auto engine = make_engine(std::move(model), std::move(tokenizer), a.engine);
  if (a.warmup) warm_up(*engine);

  std::printf("workload %s: %s\n", workload.name.c_str(), workload.description.c_str());
  std::printf("engine: %d threads, max-num-seqs %d, max-batched-tokens %d, prefix caching %s\n", a.threads,
              a.engine.max_num_seqs, a.engine.max_batched_tokens, a.engine.enable_prefix_caching ? "on" : "off");
  if (a.temperature > 0.0f)
    std::printf("sampling: temperature %g, top-p %g, top-k %d, on the %s\n", a.temperature, a.top_p, a.top_k,
                on_backend ? "backend" : "host");
  std::fflush(stdout);
  const EngineStats before = engine->stats();
  const OfflineBenchResult result = run_offline_bench(*engine, workload);
  std::printf("%s\n", format_offline_result(result).c_str());
  engine->shutdown(std::chrono::seconds(1));  // idle: the last step's times are published
  const EngineStats stats = engine->stats();
  const int64_t steps = stats.steps - before.steps;
  const double per_step = steps ? 1e3 / static_cast<double>(steps) : 0;
  std::printf("engine steps %lld (%.3f ms a step: %.3f in the model, %.3f in the engine), preemptions %lld, "
              "prefix-cache hit tokens %lld of %lld\n",
              static_cast<long long>(steps), (stats.step_seconds - before.step_seconds) * per_step,
              (stats.model_seconds - before.model_seconds) * per_step,
              (stats.step_seconds - stats.model_seconds - before.step_seconds + before.model_seconds) * per_step,
              static_cast<long long>(stats.preemptions), static_cast<long long>(stats.prefix_cache_hits),
              static_cast<long long>(stats.prefix_cache_queries));
  return result.failed ? 1 : 0;
}

}  // namespace strata::cli
