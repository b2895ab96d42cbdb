// Matmul kernels on the SmolLM2-135M shapes (hidden 576, intermediate 1536, 3 kv heads
// x 64, vocab 49152), 2 threads by default (STRATA_BENCH_THREADS overrides).
//   M = 1 (decode): reports GB/s of weights read. Each benchmark cycles through enough
//     copies of the weight matrix (>= 128 MB) that it streams from memory, not cache.
//     STRATA_BENCH_HOT=1 uses a single copy instead (cache resident: compute speed).
//   M = 16 (a batch of decodes) and M = 512 (prompt): reports GFLOP/s (2 M N K per call).
//   SmolLM2Token/*: all 211 matmuls of one forward pass with distinct weights (30 layers
//     x q,k,v,o,gate,up,down + output), reporting tokens/s of the matmul part alone
//     (STRATA_BENCH_INT8=1: int8 activations).
//   MemoryRead: the machine's read bandwidth with the pool's threads (a 1 GiB buffer
//     summed with AVX2 loads, each thread its own contiguous part): decode's ceiling.
//   FmaPeak: f32 FMA rate of the pool's threads on registers only (12 independent 8-lane
//     chains, no loads): the ceiling of the float prompt kernels.
// Run: build-mm/bench/bench_matmul [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_internal.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/weight_tiles.h"

namespace {

using strata::DType;
using strata::Tensor;

int bench_threads() {
  const char* env = std::getenv("STRATA_BENCH_THREADS");
  return env ? std::atoi(env) : 2;
}

strata::ThreadPool& pool() {
  static strata::ThreadPool p(bench_threads());
  return p;
}

// Random non-zero weights: one quantized row reused with a varying shift so every row differs.
Tensor random_weights(DType t, int64_t n, int64_t k, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  Tensor w = Tensor::empty({n, k}, t);
  std::vector<float> row(static_cast<size_t>(k));
  auto* bytes = static_cast<uint8_t*>(w.raw_data());
  const int64_t row_bytes = strata::dtype_row_bytes(t, k);
  for (int64_t r = 0; r < n; ++r) {
    if (r % 64 == 0)
      for (auto& v : row) v = normal(rng) + 0.001f;
    row[static_cast<size_t>(r % k)] += 0.01f;
    strata::cpu::quantize_row(t, row.data(), bytes + r * row_bytes, k);
  }
  return w;
}

// The weights as the CPU backend keeps them for this kernel family: the AVX-512 family
// reads quantized matrices in their tile order (kernels/cpu/weight_tiles.h).
Tensor for_isa(strata::cpu::MatmulIsa isa, Tensor w) {
  if (isa == strata::cpu::MatmulIsa::Avx512 && strata::cpu::can_tile(w)) return strata::cpu::tile_weights(w);
  return w;
}

Tensor random_activations(int64_t m, int64_t k) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  Tensor x = Tensor::empty({m, k}, DType::F32);
  for (int64_t i = 0; i < m * k; ++i) x.data<float>()[i] = normal(rng);
  return x;
}

void BM_Matmul(benchmark::State& state, strata::cpu::MatmulIsa isa, DType t, int64_t m, int64_t n, int64_t k) {
  const int64_t bytes = strata::dtype_row_bytes(t, k) * n;
  // STRATA_BENCH_HOT=1 keeps a single copy (cache resident): the kernel's compute speed.
  const bool hot = std::getenv("STRATA_BENCH_HOT") != nullptr;
  const int copies = m == 1 && !hot ? static_cast<int>((128ll << 20) / bytes + 1) : 1;
  std::vector<Tensor> weights;
  for (int i = 0; i < copies; ++i) weights.push_back(for_isa(isa, random_weights(t, n, k, static_cast<unsigned>(i + 7))));
  const Tensor x = random_activations(m, k);
  Tensor y = Tensor::empty({m, n}, DType::F32);
  size_t next = 0;
  strata::cpu::MatmulScratch scratch;  // kept across calls, as the backend keeps it
  for (auto _ : state) {
    strata::cpu::matmul_with(isa, pool(), scratch, y, x, weights[next]);
    next = (next + 1) % weights.size();
    benchmark::ClobberMemory();
  }
  const double calls = static_cast<double>(state.iterations());
  if (m == 1) state.counters["GB/s"] = benchmark::Counter(calls * bytes / 1e9, benchmark::Counter::kIsRate);
  else state.counters["GFLOP/s"] = benchmark::Counter(calls * 2.0 * m * n * k / 1e9, benchmark::Counter::kIsRate);
}

struct Linear {
  int64_t n, k;
};

// One forward pass of SmolLM2-135M's matmuls (attention and norms excluded).
void BM_SmolLM2Token(benchmark::State& state, strata::cpu::MatmulIsa isa, DType t, int64_t m) {
  const std::vector<Linear> layer = {{576, 576}, {192, 576}, {192, 576}, {576, 576}, {1536, 576}, {1536, 576}, {576, 1536}};
  std::vector<Tensor> weights;
  for (int l = 0; l < 30; ++l)
    for (const auto& lin : layer)
      weights.push_back(for_isa(isa, random_weights(t, lin.n, lin.k, static_cast<unsigned>(weights.size()))));
  const Tensor output = for_isa(isa, random_weights(DType::Q8_0, 49152, 576, 99));  // tied embeddings stay Q8_0
  const Tensor x576 = random_activations(m, 576), x1536 = random_activations(m, 1536);
  Tensor y576 = Tensor::empty({m, 576}, DType::F32), y192 = Tensor::empty({m, 192}, DType::F32);
  Tensor y1536 = Tensor::empty({m, 1536}, DType::F32), logits = Tensor::empty({1, 49152}, DType::F32);
  const Tensor last_row = x576.slice(0, m - 1, m);
  strata::cpu::MatmulScratch scratch;
  scratch.int8 = std::getenv("STRATA_BENCH_INT8") != nullptr;  // CpuBackendOptions::int8_activations
  for (auto _ : state) {
    for (const auto& w : weights) {
      const bool down = w.size(1) == 1536;
      Tensor& y = w.size(0) == 576 ? y576 : w.size(0) == 192 ? y192 : y1536;
      strata::cpu::matmul_with(isa, pool(), scratch, y, down ? x1536 : x576, w);
    }
    strata::cpu::matmul_with(isa, pool(), scratch, logits, last_row, output);  // logits for the last position only
    benchmark::ClobberMemory();
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * m, benchmark::Counter::kIsRate);
}

// Four independent 8-lane sums, so that loads, not the add latency, bound the loop.
__attribute__((target("avx2"))) float sum_floats(const float* p, int64_t len) {
  __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
  for (int64_t i = 0; i + 32 <= len; i += 32) {
    a = _mm256_add_ps(a, _mm256_loadu_ps(p + i));
    b = _mm256_add_ps(b, _mm256_loadu_ps(p + i + 8));
    c = _mm256_add_ps(c, _mm256_loadu_ps(p + i + 16));
    d = _mm256_add_ps(d, _mm256_loadu_ps(p + i + 24));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}

// Sums a large buffer with the pool's threads: the read bandwidth that decode can reach.
void BM_MemoryRead(benchmark::State& state) {
  const size_t bytes = size_t{1} << 30;
  std::vector<float> buffer(bytes / sizeof(float), 1.0f);
  const int64_t n = static_cast<int64_t>(buffer.size());
  std::vector<float> sums(static_cast<size_t>(pool().size()));
  for (auto _ : state) {
    pool().run([&](int t, int count) {
      const float* p = buffer.data() + n * t / count;
      sums[static_cast<size_t>(t)] = sum_floats(p, n * (t + 1) / count - n * t / count);
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * bytes / 1e9, benchmark::Counter::kIsRate);
}

// 12 independent FMA chains: enough to cover the FMA latency on two pipes.
__attribute__((target("avx2,fma"))) float fma_chains(int64_t iterations, float seed) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(seed * static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.9999f), b = _mm256_set1_ps(seed * 1e-5f);
  for (int64_t it = 0; it < iterations; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  alignas(32) float lanes[8];
  __m256 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm256_add_ps(sum, acc[i]);
  _mm256_store_ps(lanes, sum);
  return lanes[0];
}

void BM_FmaPeak(benchmark::State& state) {
  constexpr int64_t kIterations = 10'000'000;  // per thread and benchmark iteration
  std::vector<float> out(static_cast<size_t>(pool().size()));
  for (auto _ : state) {
    pool().run([&](int t, int) { out[static_cast<size_t>(t)] = fma_chains(kIterations, 0.5f + static_cast<float>(t)); });
    benchmark::DoNotOptimize(out.data());
  }
  const double flops = static_cast<double>(kIterations) * 12 * 16 * static_cast<double>(pool().size());
  state.counters["GFLOP/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * flops / 1e9,
                                                 benchmark::Counter::kIsRate);
}

void register_all() {
  benchmark::RegisterBenchmark("MemoryRead", BM_MemoryRead)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("FmaPeak", BM_FmaPeak)->Unit(benchmark::kMillisecond)->UseRealTime();
  const std::vector<std::pair<const char*, DType>> dtypes = {
      {"q4_1", DType::Q4_1}, {"q8_0", DType::Q8_0}, {"f16", DType::F16}, {"q4_k", DType::Q4_K}};
  const std::vector<Linear> shapes = {{576, 576}, {192, 576}, {1536, 576}, {576, 1536}, {49152, 576}};
  // Every SIMD family this CPU has (the plain generic kernels are only a test reference).
  std::vector<strata::cpu::MatmulIsa> isas;
  for (auto isa : strata::cpu::supported_matmul_isas())
    if (isa != strata::cpu::MatmulIsa::Generic) isas.push_back(isa);
  for (auto isa : isas) {
    const std::string family = strata::cpu::matmul_isa_name(isa);
    for (int64_t m : {1, 16, 512})
      for (const auto& [name, t] : dtypes)
        for (const auto& s : shapes) {
          if (s.k % strata::dtype_info(t).block_size != 0) continue;  // e.g. Q4_K needs K % 256 == 0
          const std::string label = "Matmul/" + family + "/" + name + "/M" + std::to_string(m) + "/N" +
                                    std::to_string(s.n) + "xK" + std::to_string(s.k);
          benchmark::RegisterBenchmark(label.c_str(), BM_Matmul, isa, t, m, s.n, s.k)
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
        }
    for (int64_t m : {1, 16, 512})  // 16: a batch of decodes (issue 3's 16 sequences)
      for (const auto& [name, t] : dtypes) {
        if (t == DType::Q4_K) continue;  // SmolLM2's 576-wide rows are not whole K-quant blocks
        const std::string label = "SmolLM2Token/" + family + "/" + name + "/M" + std::to_string(m);
        benchmark::RegisterBenchmark(label.c_str(), BM_SmolLM2Token, isa, t, m)->Unit(benchmark::kMillisecond)->UseRealTime();
      }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
