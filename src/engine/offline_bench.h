#pragma once
// Offline throughput benchmark over synthetic workloads: every request is submitted at
// once and the engine serves them as fast as it can. Workloads are seeded token
// sequences (no text), with the lengths stated below, and ignore end-of-generation so
// every request produces exactly its output length.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace strata {

struct OfflineWorkload {
  std::string name;
  std::string description;  // the length distributions, for the report
  std::vector<GenerationRequest> requests;
};

// Chat-like lengths: input ~ log-normal with mean `mean_input` (sigma 0.8 in log space,
// clamped to [4, 4 * mean]), output ~ log-normal with mean `mean_output` (sigma 0.6,
// clamped to [4, 4 * mean]). Tokens uniform over the vocabulary.
OfflineWorkload make_chat_workload(int num_requests, int vocab_size, uint64_t seed, int mean_input = 200,
                                   int mean_output = 128);

// `num_requests` requests sharing one `prefix_tokens`-token system prompt, each followed
// by its own question of 16 to 48 tokens and answered with `output_tokens` tokens.
OfflineWorkload make_shared_prefix_workload(int num_requests, int vocab_size, uint64_t seed,
                                            int prefix_tokens = 1024, int output_tokens = 32);

// Requests of `input_tokens` random tokens each answered with exactly `output_tokens`
// (for single-stream vs concurrent generation rates).
OfflineWorkload make_fixed_workload(int num_requests, int vocab_size, uint64_t seed, int input_tokens,
                                    int output_tokens);

struct OfflineBenchResult {
  std::string workload;
  int requests = 0;
  double seconds = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  double requests_per_second = 0;
  double input_tokens_per_second = 0;
  double output_tokens_per_second = 0;
  double mean_ttft_seconds = 0;  // from submission to the first token
  // Generation once every request has its first token (all prompts done, for requests
  // that fit the engine at once): tokens after the last first token, over that time.
  int64_t decode_tokens = 0;
  double decode_seconds = 0;
  double decode_tokens_per_second = 0;
  int failed = 0;                // requests that ended with an error
};

// Submits every request (the engine must allow them all to queue) and waits for all.
OfflineBenchResult run_offline_bench(Engine& engine, const OfflineWorkload& workload);

// One line per figure, for the terminal and bench/RESULTS.md.
std::string format_offline_result(const OfflineBenchResult& result);

}  // namespace strata
