// Engine invariants over the fake model, whose tokens the reference rule predicts.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "core/error.h"
#include "engine/engine.h"
#include "engine_test_util.h"
#include "fake_model.h"

namespace strata::testing {
namespace {

EngineConfig small_config() {
  EngineConfig c;
  c.block_size = 4;
  c.num_kv_blocks = 256;
  c.kv_dtype = DType::F32;
  c.max_num_seqs = 32;
  c.max_batched_tokens = 64;
  c.log_startup = false;
  return c;
}

std::unique_ptr<Engine> fake_engine(EngineConfig config) {
  return make_engine(make_fake_model(), make_fake_tokenizer(), config);
}

std::vector<int32_t> random_prompt(std::mt19937& rng, int length) {
  std::uniform_int_distribution<int32_t> token(1, kFakeVocab - 1);
  std::vector<int32_t> p(static_cast<size_t>(length));
  for (auto& t : p) t = token(rng);
  return p;
}

TEST(EngineFake, GreedyRequestMatchesTheReference) {
  auto engine = fake_engine(small_config());
  const std::vector<int32_t> prompt{5, 9, 13, 2, 7, 7, 30};
  auto result = collect(*engine->submit(make_request("a", prompt, 20)));
  const auto expected = reference_greedy(prompt, 20, /*stop_at_eos=*/true);
  EXPECT_EQ(result.choices[0].tokens, expected);
  std::string text;
  for (int32_t t : expected)
    if (t != kFakeEos) text += "<" + std::to_string(t) + ">";
  EXPECT_EQ(result.choices[0].text, text);
  EXPECT_TRUE(wait_until_drained(*engine));
}

// The same greedy requests give the reference tokens alone, mixed with sampled ones in a
// batch of 32, under several chunk sizes, with prefix-cache hits and under preemption.
struct BatchCase {
  const char* name;
  int max_batched_tokens;
  int num_kv_blocks;
  PreemptionMode preemption;
  int64_t swap_blocks;
  bool prefix_caching;
};

class BatchInvariance : public ::testing::TestWithParam<BatchCase> {};

TEST_P(BatchInvariance, GreedyTokensDoNotDependOnTheBatch) {
  const BatchCase& bc = GetParam();
  EngineConfig config = small_config();
  config.max_batched_tokens = bc.max_batched_tokens;
  config.num_kv_blocks = bc.num_kv_blocks;
  config.preemption = bc.preemption;
  config.swap_space = bc.swap_blocks * 4 * 2 * 4 * 2;  // blocks * tokens * floats * bytes * (K, V)
  config.enable_prefix_caching = bc.prefix_caching;
  // All 32 requests are queued before the first step runs: otherwise a fast engine
  // thread finishes early requests while later ones are still being submitted, and the
  // small caches may never fill up (a CI run saw no preemption in the swap case).
  auto gate = std::make_shared<StartGate>();
  auto engine = make_engine(gated(make_fake_model(), gate), make_fake_tokenizer(), config);

  std::mt19937 rng(1234);
  const auto shared_prefix = random_prompt(rng, 24);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::shared_ptr<RequestStream>> streams;
  std::uniform_int_distribution<int> len(1, 40), out_len(1, 24);
  std::vector<int> max_tokens;
  for (int i = 0; i < 32; ++i) {
    auto prompt = i % 3 == 0 ? shared_prefix : std::vector<int32_t>{};
    const auto tail = random_prompt(rng, len(rng));
    prompt.insert(prompt.end(), tail.begin(), tail.end());
    prompts.push_back(prompt);
    max_tokens.push_back(out_len(rng));
    // Odd requests sample at temperature 1 (they only share the batch).
    const float temperature = i % 2 ? 1.0f : 0.0f;
    streams.push_back(engine->submit(make_request("r" + std::to_string(i), prompt, max_tokens.back(), temperature,
                                                  uint64_t(i))));
  }
  gate->open();
  for (int i = 0; i < 32; ++i) {
    auto result = collect(*streams[static_cast<size_t>(i)]);
    if (i % 2) continue;
    EXPECT_EQ(result.choices[0].tokens, reference_greedy(prompts[static_cast<size_t>(i)], max_tokens[static_cast<size_t>(i)], true))
        << "request " << i;
  }
  // A repeat of a finished prompt hits the prefix cache and still matches.
  auto again = collect(*engine->submit(make_request("again", prompts[0], max_tokens[0])));
  EXPECT_EQ(again.choices[0].tokens, reference_greedy(prompts[0], max_tokens[0], true));
  if (bc.prefix_caching && bc.num_kv_blocks >= 64) {  // small caches may have evicted it
    EXPECT_GT(again.cached_prompt_tokens, 0);
  }
  EXPECT_TRUE(wait_until_drained(*engine));
  const EngineStats stats = engine->stats();
  if (bc.num_kv_blocks < 64) {
    EXPECT_GT(stats.preemptions, 0);
  }
  if (bc.preemption == PreemptionMode::Swap) {
    EXPECT_GT(stats.swap_outs, 0);
  }
  if (bc.prefix_caching) {
    EXPECT_GT(stats.prefix_cache_hits, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Engine, BatchInvariance,
    ::testing::Values(BatchCase{"roomy", 512, 512, PreemptionMode::Recompute, 0, true},
                      BatchCase{"chunk5", 5, 512, PreemptionMode::Recompute, 0, true},
                      BatchCase{"chunk16", 16, 512, PreemptionMode::Recompute, 0, false},
                      BatchCase{"chunk33", 33, 512, PreemptionMode::Recompute, 0, true},
                      BatchCase{"recompute", 64, 40, PreemptionMode::Recompute, 0, true},
                      BatchCase{"recompute_nocache", 64, 40, PreemptionMode::Recompute, 0, false},
                      BatchCase{"swap", 64, 40, PreemptionMode::Swap, 200, false},
                      BatchCase{"swap_cache", 16, 40, PreemptionMode::Swap, 200, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(EngineFake, ParallelSamplingIsReproducibleAndSeedsDiffer) {
  EngineConfig config = small_config();
  config.enable_prefix_caching = false;
  auto engine = fake_engine(config);
  const std::vector<int32_t> prompt{3, 1, 4, 1, 5, 9, 2};  // 7 tokens: a shared partial block
  auto run = [&](const std::string& id, uint64_t seed) {
    auto r = make_request(id, prompt, 12, 1.0f, seed, /*n=*/4);
    r.stop.ignore_eos = true;
    return collect(*engine->submit(r));
  };
  const auto a = run("a", 7), b = run("b", 7), c = run("c", 8);
  ASSERT_EQ(a.choices.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a.choices.at(i).tokens.size(), 12u);
    EXPECT_EQ(a.choices.at(i).tokens, b.choices.at(i).tokens) << "choice " << i;
  }
  EXPECT_NE(a.choices.at(0).tokens, a.choices.at(1).tokens);
  bool any_differs = false;
  for (int i = 0; i < 4; ++i) any_differs |= a.choices.at(i).tokens != c.choices.at(i).tokens;
  EXPECT_TRUE(any_differs);
  EXPECT_EQ(a.completion_tokens, 48);
  EXPECT_TRUE(wait_until_drained(*engine));
}

TEST(EngineFake, ParallelGreedyChoicesEachMatchTheReference) {
  // Copy-on-write check: every fork continues from its own copy of the shared block.
  auto engine = fake_engine(small_config());
  const std::vector<int32_t> prompt{8, 8, 1, 2, 3};
  auto r = make_request("g", prompt, 10, 0.0f, 1, /*n=*/3);
  const auto result = collect(*engine->submit(r));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(result.choices.at(i).tokens, reference_greedy(prompt, 10, true));
}

TEST(EngineFake, RandomArrivalsAndAbortsLeakNoBlocks) {
  for (PreemptionMode mode : {PreemptionMode::Recompute, PreemptionMode::Swap}) {
    for (uint32_t seed = 0; seed < 3; ++seed) {
      EngineConfig config = small_config();
      config.num_kv_blocks = 48;
      config.max_batched_tokens = 24;
      config.preemption = mode;
      config.swap_space = 64 * 4 * 2 * 4 * 2;
      config.enable_prefix_caching = seed != 1;
      auto engine = fake_engine(config);
      std::mt19937 rng(seed);
      std::uniform_int_distribution<int> len(1, 50), out(1, 40), pause(0, 3), coin(0, 4), n_dist(1, 3);
      std::vector<std::pair<std::shared_ptr<RequestStream>, std::vector<int32_t>>> live;
      std::vector<int> limits;
      for (int i = 0; i < 40; ++i) {
        auto prompt = random_prompt(rng, len(rng));
        const int max_tokens = out(rng);
        const int n = coin(rng) == 0 ? n_dist(rng) : 1;
        auto stream = engine->submit(make_request("q" + std::to_string(i), prompt, max_tokens, 0.0f, i, n));
        live.emplace_back(stream, prompt);
        limits.push_back(max_tokens);
        if (coin(rng) == 0) live[rng() % live.size()].first->abort();
        std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng)));
      }
      for (size_t i = 0; i < live.size(); ++i) {
        auto result = collect(*live[i].first);
        EXPECT_TRUE(result.finished);
        for (auto& [index, choice] : result.choices) {
          ASSERT_TRUE(choice.finish.has_value());
          if (*choice.finish != FinishReason::Abort) {  // finished ones are still right
            EXPECT_EQ(choice.tokens, reference_greedy(live[i].second, limits[i], true));
          }
        }
      }
      EXPECT_TRUE(wait_until_drained(*engine)) << "blocks leaked, seed " << seed;
    }
  }
}

TEST(EngineFake, AbortEndsTheStreamAndFreesBlocks) {
  // A request far longer than the test's life (the fake model runs hundreds of steps a
  // millisecond), so it is still running whenever the test thread gets to look at it.
  EngineConfig config = small_config();
  config.num_kv_blocks = 25000;
  auto engine = make_engine(make_fake_model(100000), make_fake_tokenizer(), config);
  auto r = make_request("long", {1, 2, 3, 4, 5}, 99000);
  r.stop.ignore_eos = true;
  auto stream = engine->submit(r);
  auto first = stream->next(std::chrono::seconds(10));
  ASSERT_TRUE(first.has_value());
  // The first token is out before the step that produced it publishes its stats.
  ASSERT_TRUE(wait_until_stats(*engine, [](const EngineStats& s) { return s.kv_blocks_used > 0; }));
  // Stats lag the step loop by at most the step in flight when the abort arrives; the
  // abort itself is handled before the next step. The count is read after abort(): read
  // before it, a test thread descheduled in between (a loaded CI machine) lets the engine
  // run any number of legitimate steps and the bound fails spuriously.
  stream->abort();
  const int64_t steps_at_abort = engine->stats().steps;
  auto result = collect(*stream);
  EXPECT_EQ(result.choices[0].finish, FinishReason::Abort);
  EXPECT_TRUE(wait_until_drained(*engine));
  EXPECT_LE(engine->stats().steps, steps_at_abort + 2) << "blocks were held for more than one step";
  // The terminal output repeats forever.
  auto terminal = stream->next(std::chrono::milliseconds(1));
  ASSERT_TRUE(terminal.has_value());
  EXPECT_TRUE(terminal->finished);
}

TEST(EngineFake, MaxQueuedRejectsFurtherSubmissions) {
  EngineConfig config = small_config();
  config.max_num_seqs = 1;  // the long request holds the only seat; the rest must queue
  config.max_queued = 2;
  auto engine = fake_engine(config);
  auto r = make_request("running", {1, 2, 3, 4, 5}, 1000);
  r.stop.ignore_eos = true;
  auto running = engine->submit(r);
  ASSERT_TRUE(running->next(std::chrono::seconds(10)).has_value());  // it holds the seat now
  auto q1 = engine->submit(make_request("q1", {1, 2}, 4));
  auto q2 = engine->submit(make_request("q2", {1, 2}, 4));
  EXPECT_THROW(engine->submit(make_request("q3", {1, 2}, 4)), QueueFullError);
  running->abort();
  EXPECT_TRUE(collect(*q1).finished);
  EXPECT_TRUE(collect(*q2).finished);
  // Room again once the queue has drained.
  EXPECT_TRUE(collect(*engine->submit(make_request("q4", {1, 2}, 4))).finished);
  EXPECT_TRUE(wait_until_drained(*engine));
}

TEST(EngineFake, MaxTokensEndsWithLength) {
  auto engine = fake_engine(small_config());
  auto r = make_request("len", {4, 4, 4}, 6, 1.0f, 3);
  r.stop.ignore_eos = true;
  auto result = collect(*engine->submit(r));
  EXPECT_EQ(result.choices[0].tokens.size(), 6u);
  EXPECT_EQ(result.choices[0].finish, FinishReason::Length);
}

// A client may reuse a request id as soon as it has read that request's last output:
// the id is free before the output is delivered (it used to be freed after, and a quick
// resubmission was refused as "already in use" now and then).
TEST(EngineFake, RequestIdIsFreeOnceTheLastOutputArrives) {
  auto engine = fake_engine(small_config());
  for (int i = 0; i < 300; ++i) {
    auto r = make_request("same", {4, 4, 4}, 2, 1.0f, 3);
    r.stop.ignore_eos = true;
    std::shared_ptr<RequestStream> stream;
    ASSERT_NO_THROW(stream = engine->submit(r)) << "round " << i;
    EXPECT_EQ(collect(*stream).choices[0].tokens.size(), 2u);
  }
}

TEST(EngineFake, RejectsWhatCanNeverRun) {
  EngineConfig config = small_config();
  config.num_kv_blocks = 8;  // 32 tokens
  config.max_queued = 2;
  auto engine = fake_engine(config);
  EXPECT_THROW(engine->submit(make_request("big", std::vector<int32_t>(30, 1), 10)), InvalidArgument);
  EXPECT_THROW(engine->submit(make_request("empty", {}, 10)), InvalidArgument);
  EXPECT_THROW(engine->submit(make_request("vocab", {kFakeVocab}, 1)), InvalidArgument);
  EXPECT_THROW(engine->submit(make_request("n", {1}, 1, 1.0f, 1, 100)), InvalidArgument);
  auto ok = engine->submit(make_request("ok", {1, 2}, 4));
  EXPECT_TRUE(collect(*ok).finished);
}

}  // namespace
}  // namespace strata::testing
