// The serving engine's own cost per step: the same engine over a model that computes
// nothing (each logits row's token comes from a cheap rule), so that what is timed is the
// scheduling, the batch description, the per-row bookkeeping, incremental detokenization
// and delivery to the request streams, with one reader thread per request as `strata
// bench offline` has. On a GPU this host work sits between steps (bench/RESULTS.md: 0.74
// ms after the logits of a 64-sequence step of the 8B shape), so it bounds what the host
// costs aggregate decode there.
// Arguments: sequences, KV blocks (0: 20 a sequence).
// Needs a GGUF whose tokenizer to use: STRATA_BENCH_TOKENIZER, else the default model
// (scripts/fetch-model puts it in ~/.cache/strata/models).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/engine.h"
#include "engine/offline_bench.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

std::string tokenizer_path() {
  if (const char* p = std::getenv("STRATA_BENCH_TOKENIZER")) return p;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/strata/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

// One layer of SmolLM2's attention shape, so that the KV cache the engine allocates is
// small; no weights. Tokens cycle through ordinary ids of the vocabulary (past the
// special tokens), different for each row and step.
class NullModel : public CausalLM {
 public:
  explicit NullModel(int vocab) : backend_(make_cpu_backend(CpuBackendOptions{1})) {
    config_.architecture = "llama";
    config_.name = "null";
    config_.num_layers = 1;
    config_.hidden_size = 576;
    config_.intermediate_size = 1536;
    config_.num_heads = 9;
    config_.num_kv_heads = 3;
    config_.head_dim = 64;
    config_.vocab_size = vocab;
    config_.context_length = 8192;
  }
  const ModelConfig& config() const override { return config_; }
  Backend& backend() override { return *backend_; }
  void forward(const ForwardBatch& batch, KVStorage&, Tensor& logits) override {
    logits = Tensor::empty({batch.num_logit_rows(), config_.vocab_size}, DType::F32);
    for (int64_t r = 0; r < batch.num_logit_rows(); ++r)
      for (int64_t v = 0; v < config_.vocab_size; ++v)
        logits.data<float>()[r * config_.vocab_size + v] = v == next_token(r) ? 1.f : 0.f;
    ++step_;
  }
  void forward_step(const ForwardBatch& batch, KVStorage& kv, StepLogits& out) override {
    if (out.any_full()) {
      CausalLM::forward_step(batch, kv, out);
      return;
    }
    out.logits = Tensor();
    out.tokens.resize(static_cast<size_t>(batch.num_logit_rows()));
    for (int64_t r = 0; r < batch.num_logit_rows(); ++r) out.tokens[static_cast<size_t>(r)] = next_token(r);
    ++step_;
  }
  size_t weight_bytes() const override { return 0; }

 private:
  int32_t next_token(int64_t row) const {
    const int64_t span = config_.vocab_size - 1000;
    return static_cast<int32_t>(1000 + (step_ * 7919 + row * 104729) % span);
  }
  ModelConfig config_;
  std::unique_ptr<Backend> backend_;
  int64_t step_ = 0;
};

void EngineStep(benchmark::State& state) {
  const std::string path = tokenizer_path();
  if (!std::filesystem::exists(path)) {
    state.SkipWithError(("no tokenizer GGUF at " + path + " (set STRATA_BENCH_TOKENIZER)").c_str());
    return;
  }
  const int seqs = static_cast<int>(state.range(0));
  auto tokenizer = Tokenizer::load(path);
  const int vocab = tokenizer->vocab_size();
  EngineConfig config;
  config.max_num_seqs = seqs;
  // Either 20 blocks a sequence (256 + 64 tokens, blocks of 16: the prefix cache fills and
  // every new block evicts) or the given number, as many as a GPU's cache has.
  config.num_kv_blocks = state.range(1) > 0 ? static_cast<int>(state.range(1)) : seqs * 20;
  config.log_startup = false;
  auto engine = make_engine(std::make_unique<NullModel>(vocab), std::move(tokenizer), config);
  uint64_t seed = 1;
  int64_t steps = 0, tokens = 0;
  double seconds = 0;
  for (auto _ : state) {
    // Fresh prompts each round (another seed), so the prefix cache does not skip them.
    const OfflineWorkload workload = make_fixed_workload(seqs, vocab, seed++, 128, 128);
    const int64_t before = engine->stats().steps;
    const OfflineBenchResult r = run_offline_bench(*engine, workload);
    steps += engine->stats().steps - before;
    tokens += r.output_tokens;
    seconds += r.seconds;
    state.SetIterationTime(r.seconds);
  }
  state.counters["us_per_step"] = steps ? 1e6 * seconds / static_cast<double>(steps) : 0;
  state.counters["steps"] = static_cast<double>(steps);
  state.counters["output_tok_per_s"] = seconds > 0 ? static_cast<double>(tokens) / seconds : 0;
}

BENCHMARK(EngineStep)
    ->Args({16, 0})
    ->Args({64, 0})
    ->Args({128, 0})
    ->Args({64, 50000})  // an 8B model's cache on an H200 is ~50,000 blocks of 16 tokens
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace
}  // namespace strata

BENCHMARK_MAIN();
