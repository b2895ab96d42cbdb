#pragma once
// Helpers for engine tests: building requests and reading a stream to its end.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace strata::testing {

struct ChoiceResult {
  std::vector<int32_t> tokens;
  std::string text;
  std::optional<FinishReason> finish;
};

struct Collected {
  std::map<int, ChoiceResult> choices;
  int cached_prompt_tokens = 0;
  int completion_tokens = 0;
  bool finished = false;
};

// Reads until the finished output (or `timeout` without progress).
inline Collected collect(RequestStream& stream, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  Collected out;
  while (!out.finished) {
    auto next = stream.next(timeout);
    if (!next) {
      ADD_FAILURE() << "stream " << stream.request_id() << " timed out";
      return out;
    }
    for (const auto& d : next->deltas) {
      auto& c = out.choices[d.index];
      c.tokens.insert(c.tokens.end(), d.token_ids.begin(), d.token_ids.end());
      c.text += d.text;
      if (d.finish) c.finish = d.finish;
    }
    out.cached_prompt_tokens = next->cached_prompt_tokens;
    out.completion_tokens = next->completion_tokens;
    out.finished = next->finished;
  }
  return out;
}

inline GenerationRequest make_request(std::string id, std::vector<int32_t> prompt, int max_tokens,
                                      float temperature = 0.0f, std::optional<uint64_t> seed = std::nullopt,
                                      int n = 1) {
  GenerationRequest r;
  r.request_id = std::move(id);
  r.prompt_tokens = std::move(prompt);
  r.stop.max_tokens = max_tokens;
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  r.n = n;
  return r;
}

// Seeded requests with every kind of sampling the engine handles: temperature with top-k,
// top-p and min-p, penalties, a logit bias, one greedy with penalties, n = 2 (sampled on the
// host before the fork), logprobs (on the host always); `tokens` each, EOS ignored.
inline std::vector<GenerationRequest> mixed_sampling_requests(int vocab, int tokens) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> token(1, vocab - 1);
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 12; ++i) {
    std::vector<int32_t> prompt(static_cast<size_t>(5 + 3 * i));
    for (auto& t : prompt) t = token(rng);
    auto r = make_request("s" + std::to_string(i), prompt, tokens, i % 6 == 5 ? 0.0f : 0.7f + 0.05f * (i % 4),
                          uint64_t(100 + i), i % 5 == 3 ? 2 : 1);
    r.stop.ignore_eos = true;
    if (i % 3 == 0) r.sampling.top_k = 8 + i;
    if (i % 3 == 1) r.sampling.top_p = 0.8f;
    if (i % 4 == 2) r.sampling.min_p = 0.05f;
    if (i % 2 == 0) r.sampling.repetition_penalty = 1.2f;
    if (i % 4 == 1) r.sampling.frequency_penalty = 0.5f, r.sampling.presence_penalty = 0.3f;
    if (i % 6 == 4) r.sampling.logit_bias = {{token(rng), 5.0f}, {token(rng), -100.0f}};
    if (i == 7) r.sampling.logprobs = true;
    requests.push_back(r);
  }
  return requests;
}

// Polls until the engine holds no request and no KV block outside the prefix cache.
// Polls the engine's stats until `done(stats)` holds: stats are published by the step
// loop after a step, so they can lag the outputs a stream has already delivered.
template <typename Predicate>
bool wait_until_stats(const Engine& engine, Predicate done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done(engine.stats())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

inline bool wait_until_drained(const Engine& engine, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  return wait_until_stats(
      engine,
      [](const EngineStats& s) { return s.running == 0 && s.waiting == 0 && s.swapped == 0 && s.kv_blocks_used == 0; },
      timeout);
}

}  // namespace strata::testing
