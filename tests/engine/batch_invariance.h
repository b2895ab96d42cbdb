#pragma once
// The batch-invariance check of the engine, for any backend (tests/engine on the CPU,
// tests/cuda on the GPU): a greedy request must give the same tokens served alone as
// inside a batch of 32 mixed requests, under chunked prefill at two chunk sizes, on
// prefix-cache hits and after preemption by recompute and by swap.
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine_test_util.h"
#include "fake_model.h"

namespace strata::testing {

struct Workload {
  std::vector<GenerationRequest> requests;
};

inline Workload mixed_workload() {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int32_t> token(1, 511);
  std::uniform_int_distribution<int> len(1, 70), out(4, 12);
  std::vector<int32_t> prefix(40);
  for (auto& t : prefix) t = token(rng);
  Workload w;
  for (int i = 0; i < 32; ++i) {
    std::vector<int32_t> prompt = i % 4 == 0 ? prefix : std::vector<int32_t>{};
    for (int k = len(rng); k > 0; --k) prompt.push_back(token(rng));
    auto r = make_request("m" + std::to_string(i), prompt, out(rng), i % 2 ? 1.0f : 0.0f, uint64_t(i));
    r.stop.ignore_eos = true;
    w.requests.push_back(r);
  }
  return w;
}

inline std::vector<std::vector<int32_t>> run_all(Engine& engine, const Workload& w, StartGate& gate) {
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& r : w.requests) streams.push_back(engine.submit(r));
  gate.open();  // every request is queued before the first step: the same schedule on any machine
  std::vector<std::vector<int32_t>> tokens;
  for (auto& s : streams) tokens.push_back(collect(*s).choices[0].tokens);
  EXPECT_TRUE(wait_until_drained(engine));
  return tokens;
}

inline EngineConfig base_config() {
  EngineConfig c;
  c.block_size = 16;
  c.num_kv_blocks = 128;
  c.max_num_seqs = 32;
  c.max_batched_tokens = 512;
  c.enable_prefix_caching = false;
  return c;
}

// An engine of `config` over the tiny model of the backend under test; `gate`, when given,
// holds its first step until the test has queued every request.
using EngineFactory = std::function<std::unique_ptr<Engine>(EngineConfig config, std::shared_ptr<StartGate> gate)>;

inline void expect_greedy_batch_invariance(const EngineFactory& engine_on) {
  const Workload w = mixed_workload();
  // Alone: one request at a time, no prefix cache.
  std::vector<std::vector<int32_t>> alone(w.requests.size());
  {
    auto engine = engine_on(base_config(), nullptr);
    for (size_t i = 0; i < w.requests.size(); i += 2) alone[i] = collect(*engine->submit(w.requests[i])).choices[0].tokens;
  }
  struct Variant {
    const char* name;
    EngineConfig config;
  };
  std::vector<Variant> variants;
  variants.push_back({"batch of 32", base_config()});
  for (int chunk : {7, 32}) {
    EngineConfig c = base_config();
    c.max_batched_tokens = chunk;
    variants.push_back({chunk == 7 ? "chunks of 7" : "chunks of 32", c});
  }
  {
    EngineConfig c = base_config();
    c.enable_prefix_caching = true;
    variants.push_back({"prefix cache", c});
  }
  {
    EngineConfig c = base_config();
    c.num_kv_blocks = 14;
    c.enable_prefix_caching = true;
    variants.push_back({"recompute preemption", c});
  }
  {
    EngineConfig c = base_config();
    c.num_kv_blocks = 14;
    c.preemption = PreemptionMode::Swap;
    c.swap_space = int64_t{64} * 16 * 2 * 64 * 2 * 2 * 2;  // 64 blocks: tokens*kv_heads*dim*f16*(K,V)*layers
    variants.push_back({"swap preemption", c});
  }
  for (const auto& v : variants) {
    auto gate = std::make_shared<StartGate>();
    auto engine = engine_on(v.config, gate);
    const auto tokens = run_all(*engine, w, *gate);
    for (size_t i = 0; i < w.requests.size(); i += 2)
      EXPECT_EQ(tokens[i], alone[i]) << v.name << ": request " << i;
    if (v.config.enable_prefix_caching && v.config.num_kv_blocks >= 64) {
      // A repeat of a finished greedy prompt is served from the prefix cache.
      GenerationRequest repeat = w.requests[0];
      repeat.request_id = "m0-again";
      const auto again = collect(*engine->submit(repeat));
      EXPECT_GT(again.cached_prompt_tokens, 0) << v.name;
      EXPECT_EQ(again.choices.at(0).tokens, alone[0]) << v.name << ": prefix-cache hit";
    }
    const EngineStats stats = engine->stats();
    if (v.config.num_kv_blocks < 20) {
      EXPECT_GT(stats.preemptions, 0) << v.name;
    }
    if (v.config.preemption == PreemptionMode::Swap) {
      EXPECT_GT(stats.swap_outs, 0) << v.name;
    }
    if (v.config.enable_prefix_caching) {
      EXPECT_GT(stats.prefix_cache_hits, 0) << v.name;
    }
  }
}

}  // namespace strata::testing
