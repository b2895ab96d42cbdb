#include "engine/offline_bench.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>

namespace strata {
namespace {

// Log-normal with the given mean: mu = ln(mean) - sigma^2 / 2.
int draw_length(std::mt19937_64& rng, double mean, double sigma) {
  std::lognormal_distribution<double> dist(std::log(mean) - sigma * sigma / 2.0, sigma);
  const double value = std::round(dist(rng));
  return static_cast<int>(std::clamp(value, 4.0, 4.0 * mean));
}

std::vector<int32_t> random_tokens(std::mt19937_64& rng, int vocab_size, int n) {
  // Skip the lowest ids, where tokenizers keep their special tokens.
  std::uniform_int_distribution<int32_t> token(std::min(vocab_size - 1, 256), vocab_size - 1);
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (auto& t : out) t = token(rng);
  return out;
}

GenerationRequest bench_request(const std::string& id, std::vector<int32_t> prompt, int output_tokens) {
  GenerationRequest r;
  r.request_id = id;
  r.prompt_tokens = std::move(prompt);
  r.sampling.temperature = 0.0f;
  r.stop.max_tokens = output_tokens;
  r.stop.ignore_eos = true;
  return r;
}

struct TokenArrival {
  double seconds;  // since the start
  int64_t tokens;
};

// The generation rate once every request has its first token: the tokens that arrive after
// the last first token over the time from then to the end (llama-batched-bench's S_TG,
// which times the generation steps after all prompts, for requests that all run at once).
void add_decode_rate(OfflineBenchResult& r, const std::vector<double>& ttft,
                     const std::vector<std::vector<TokenArrival>>& arrivals) {
  const double all_started = ttft.empty() ? 0.0 : *std::max_element(ttft.begin(), ttft.end());
  for (const auto& request : arrivals)
    for (const TokenArrival& a : request)
      if (a.seconds > all_started) r.decode_tokens += a.tokens;
  r.decode_seconds = r.seconds - all_started;
  r.decode_tokens_per_second = r.decode_seconds > 0 ? r.decode_tokens / r.decode_seconds : 0;
}

}  // namespace

OfflineWorkload make_chat_workload(int num_requests, int vocab_size, uint64_t seed, int mean_input,
                                   int mean_output) {
  OfflineWorkload w;
  w.name = "chat";
  w.description = "input ~ lognormal(mean " + std::to_string(mean_input) + ", sigma 0.8), output ~ lognormal(mean " +
                  std::to_string(mean_output) + ", sigma 0.6), seed " + std::to_string(seed);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < num_requests; ++i) {
    const int input = draw_length(rng, mean_input, 0.8);
    const int output = draw_length(rng, mean_output, 0.6);
    w.requests.push_back(bench_request("chat-" + std::to_string(i), random_tokens(rng, vocab_size, input), output));
  }
  return w;
}

OfflineWorkload make_shared_prefix_workload(int num_requests, int vocab_size, uint64_t seed, int prefix_tokens,
                                            int output_tokens) {
  OfflineWorkload w;
  w.name = "shared-prefix";
  w.description = std::to_string(num_requests) + " requests sharing a " + std::to_string(prefix_tokens) +
                  "-token system prompt, questions of 16-48 tokens, " + std::to_string(output_tokens) +
                  " output tokens, seed " + std::to_string(seed);
  std::mt19937_64 rng(seed);
  const auto prefix = random_tokens(rng, vocab_size, prefix_tokens);
  std::uniform_int_distribution<int> question(16, 48);
  for (int i = 0; i < num_requests; ++i) {
    auto prompt = prefix;
    const auto q = random_tokens(rng, vocab_size, question(rng));
    prompt.insert(prompt.end(), q.begin(), q.end());
    w.requests.push_back(bench_request("prefix-" + std::to_string(i), std::move(prompt), output_tokens));
  }
  return w;
}

OfflineWorkload make_fixed_workload(int num_requests, int vocab_size, uint64_t seed, int input_tokens,
                                    int output_tokens) {
  OfflineWorkload w;
  w.name = "fixed";
  w.description = std::to_string(num_requests) + " requests of " + std::to_string(input_tokens) + " input and " +
                  std::to_string(output_tokens) + " output tokens, seed " + std::to_string(seed);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < num_requests; ++i)
    w.requests.push_back(
        bench_request("fixed-" + std::to_string(i), random_tokens(rng, vocab_size, input_tokens), output_tokens));
  return w;
}

OfflineBenchResult run_offline_bench(Engine& engine, const OfflineWorkload& workload) {
  using Clock = std::chrono::steady_clock;
  const size_t n = workload.requests.size();
  std::vector<double> ttft(n, 0.0);
  std::vector<int64_t> outputs(n, 0), cached(n, 0);
  std::vector<std::vector<TokenArrival>> arrivals(n);
  std::vector<char> failed(n, 0);
  const auto start = Clock::now();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& r : workload.requests) streams.push_back(engine.submit(r));
  // One reader per request: each waits on its own stream (they sleep, not spin).
  std::vector<std::thread> readers;
  for (size_t i = 0; i < n; ++i) {
    readers.emplace_back([&, i] {
      bool first = true;
      while (true) {
        auto out = streams[i]->next(std::chrono::hours(1));
        if (!out) break;
        const double now = std::chrono::duration<double>(Clock::now() - start).count();
        for (const auto& d : out->deltas) {
          if (d.token_ids.empty()) continue;
          arrivals[i].push_back({now, static_cast<int64_t>(d.token_ids.size())});
          if (first) {
            ttft[i] = now;
            first = false;
          }
        }
        for (const auto& d : out->deltas)
          if (d.finish && *d.finish == FinishReason::Error) failed[i] = 1;
        if (out->finished) {
          outputs[i] = out->completion_tokens;
          cached[i] = out->cached_prompt_tokens;
          break;
        }
      }
    });
  }
  for (auto& t : readers) t.join();
  OfflineBenchResult r;
  r.workload = workload.name;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.requests = static_cast<int>(n);
  double ttft_sum = 0;
  for (size_t i = 0; i < n; ++i) {
    r.input_tokens += static_cast<int64_t>(workload.requests[i].prompt_tokens.size());
    r.output_tokens += outputs[i];
    r.cached_prompt_tokens += cached[i];
    r.failed += failed[i];
    ttft_sum += ttft[i];
  }
  r.requests_per_second = r.seconds > 0 ? n / r.seconds : 0;
  r.input_tokens_per_second = r.seconds > 0 ? r.input_tokens / r.seconds : 0;
  r.output_tokens_per_second = r.seconds > 0 ? r.output_tokens / r.seconds : 0;
  r.mean_ttft_seconds = n ? ttft_sum / static_cast<double>(n) : 0;
  add_decode_rate(r, ttft, arrivals);
  return r;
}

std::string format_offline_result(const OfflineBenchResult& r) {
  char line[512];
  std::snprintf(line, sizeof line,
                "%s: %d requests in %.2f s: %.2f req/s, input %.1f tok/s, output %.1f tok/s, mean TTFT %.3f s, "
                "prompt tokens %lld (cached %lld), output tokens %lld%s; after the last first token: %lld tokens in "
                "%.3f s, decode %.1f tok/s",
                r.workload.c_str(), r.requests, r.seconds, r.requests_per_second, r.input_tokens_per_second,
                r.output_tokens_per_second, r.mean_ttft_seconds, static_cast<long long>(r.input_tokens),
                static_cast<long long>(r.cached_prompt_tokens), static_cast<long long>(r.output_tokens),
                r.failed ? (", " + std::to_string(r.failed) + " FAILED").c_str() : "",
                static_cast<long long>(r.decode_tokens), r.decode_seconds, r.decode_tokens_per_second);
  return line;
}

}  // namespace strata
