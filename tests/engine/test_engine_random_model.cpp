// Batch invariance on a real forward pass: a tiny random-weight Llama on the CPU backend.
// A greedy request must give the same tokens served alone as inside a batch of 32 mixed
// requests, under chunked prefill, prefix-cache hits and preemption (recompute, swap).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include <unistd.h>

#include "engine/engine.h"
#include "engine_test_util.h"
#include "fake_model.h"
#include "model/random_model.h"

namespace strata::testing {
namespace {

namespace fs = std::filesystem;

// One file per process: CTest runs this binary's tests as parallel processes, and one
// rewriting the file another has mapped would kill that one (SIGBUS).
const std::string& tiny_model_path() {
  static const std::string path = [] {
    const auto dir = fs::path(STRATA_BINARY_DIR) / "test_tmp" / ("engine-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const auto file = dir / "tiny-llama-f32-7.gguf";
    RandomModelOptions options;
    options.dtype = DType::F32;
    options.seed = 7;
    write_random_gguf(random_model_config("llama", "tiny"), options, file.string());
    return file.string();
  }();
  return path;
}

// `gate`, when given, holds the first step until the test has queued its requests.
std::unique_ptr<Engine> tiny_engine(EngineConfig config, std::shared_ptr<StartGate> gate = nullptr) {
  LoadOptions options;
  options.num_threads = 2;
  auto model = load_model(tiny_model_path(), options);
  const int vocab = model->config().vocab_size;
  config.log_startup = false;
  if (gate) model = gated(std::move(model), std::move(gate));
  return make_engine(std::move(model), make_fake_tokenizer(vocab), config);
}

struct Workload {
  std::vector<GenerationRequest> requests;
};

Workload mixed_workload() {
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

std::vector<std::vector<int32_t>> run_all(Engine& engine, const Workload& w, StartGate& gate) {
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& r : w.requests) streams.push_back(engine.submit(r));
  gate.open();  // every request is queued before the first step: the same schedule on any machine
  std::vector<std::vector<int32_t>> tokens;
  for (auto& s : streams) tokens.push_back(collect(*s).choices[0].tokens);
  EXPECT_TRUE(wait_until_drained(engine));
  return tokens;
}

EngineConfig base_config() {
  EngineConfig c;
  c.block_size = 16;
  c.num_kv_blocks = 128;
  c.max_num_seqs = 32;
  c.max_batched_tokens = 512;
  c.enable_prefix_caching = false;
  return c;
}

TEST(EngineRandomModel, GreedyTokensAreTheSameAloneAndInAnyBatch) {
  const Workload w = mixed_workload();
  // Alone: one request at a time, no prefix cache.
  std::vector<std::vector<int32_t>> alone(w.requests.size());
  {
    auto engine = tiny_engine(base_config());
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
    auto engine = tiny_engine(v.config, gate);
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

// Rows sampled by the backend (Backend::sample_rows, the GPU's path; here the CPU's host
// implementation) give every request the tokens the host sampler gives it: the same draws
// from the same seeds, the processors' lists carried over, and the rows that must stay on
// the host (n > 1 before the fork, logprobs) still sampled there.
TEST(EngineRandomModel, BackendSamplingGivesTheHostSamplersTokens) {
  const std::vector<GenerationRequest> requests = mixed_sampling_requests(512, 10);
  std::map<EngineConfig::Sampling, std::vector<std::map<int, ChoiceResult>>> results;
  for (auto mode : {EngineConfig::Sampling::Host, EngineConfig::Sampling::Backend}) {
    EngineConfig c = base_config();
    c.sampling = mode;
    auto gate = std::make_shared<StartGate>();
    auto engine = tiny_engine(c, gate);
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (const auto& r : requests) streams.push_back(engine->submit(r));
    gate->open();
    for (auto& st : streams) results[mode].push_back(collect(*st).choices);
  }
  const auto& host = results[EngineConfig::Sampling::Host];
  const auto& backend = results[EngineConfig::Sampling::Backend];
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_EQ(backend[i].size(), host[i].size()) << "request " << i;
    for (const auto& [index, choice] : host[i]) {
      EXPECT_EQ(backend[i].at(index).tokens, choice.tokens) << "request " << i << " choice " << index;
      EXPECT_EQ(choice.tokens.size(), 10u) << "request " << i << " choice " << index;
    }
  }
}

}  // namespace
}  // namespace strata::testing
