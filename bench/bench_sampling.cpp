// Host sampling of one row (sample_row, the reference every backend agrees with) over
// vocabularies of SmolLM2's (49,152) and Llama 3's (128,256) size: flat rows, as random-weight
// models give (the nucleus holds most of the vocabulary), and peaked ones, as trained models
// give. Each iteration samples a fresh copy of the row (the processors modify it in place).
//   build/bench/bench_sampling [--benchmark_filter=Flat]
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "sampling/row_sampling.h"

namespace strata {
namespace {

std::vector<float> random_row(int64_t vocab, float scale) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> row(static_cast<size_t>(vocab));
  for (float& x : row) x = scale * normal(rng);
  return row;
}

// args: vocab, logit scale x 10, top-k (0: off), top-p x 100.
void SampleRow(benchmark::State& state) {
  const std::vector<float> row = random_row(state.range(0), static_cast<float>(state.range(1)) / 10.0f);
  SamplingRows rows;
  RowSampling r;
  r.temperature = 0.8f;
  r.top_k = static_cast<int32_t>(state.range(2));
  r.top_p = static_cast<float>(state.range(3)) / 100.0f;
  r.u = 0.37;
  rows.rows.push_back(r);
  SampleRowScratch scratch;
  std::vector<float> logits;
  for (auto _ : state) {
    logits = row;
    benchmark::DoNotOptimize(sample_row(logits, rows, 0, scratch));
  }
}

// Flat rows (scale 0.5) and peaked ones (scale 6), top-p 0.95; then top-k 50 and plain temperature.
BENCHMARK(SampleRow)
    ->ArgNames({"vocab", "scale10", "top_k", "top_p100"})
    ->Args({49152, 5, 0, 95})
    ->Args({128256, 5, 0, 95})
    ->Args({49152, 60, 0, 95})
    ->Args({128256, 60, 0, 95})
    ->Args({128256, 5, 50, 100})
    ->Args({128256, 5, 0, 100})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace strata

BENCHMARK_MAIN();
