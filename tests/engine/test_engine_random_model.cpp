// Batch invariance on a real forward pass: a tiny random-weight Llama on the CPU backend.
// A greedy request must give the same tokens served alone as inside a batch of 32 mixed
// requests, under chunked prefill, prefix-cache hits and preemption (recompute, swap).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include <unistd.h>

#include "engine/engine.h"
#include "batch_invariance.h"
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

TEST(EngineRandomModel, GreedyTokensAreTheSameAloneAndInAnyBatch) {
  expect_greedy_batch_invariance([](EngineConfig config, std::shared_ptr<StartGate> gate) { return tiny_engine(config, gate); });
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
