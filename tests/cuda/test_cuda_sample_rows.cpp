// Sampling on the device (Backend::sample_rows) against the host reference sample_row():
// the processed logits bit for bit and the same token for every row, over vocabularies of
// SmolLM2's and Qwen's size and every kind of truncation, on fresh random logits; and an
// engine on the GPU that samples there gives the tokens of one that samples on the host.
#include <map>

#include "../engine/engine_test_util.h"
#include "../engine/fake_model.h"
#include "cuda_test_util.h"
#include "engine/engine.h"
#include "model/model.h"
#include "sampling/row_sampling.h"

namespace strata::cuda_test {
namespace {

// Rows of logits with a scale per row: peaked (a few tokens hold the mass) to flat.
Tensor random_logits(int64_t rows, int64_t vocab, uint32_t seed) {
  Tensor t = Tensor::empty({rows, vocab}, DType::F32);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float scale = 0.5f + 2.5f * static_cast<float>(r % 5);
    for (int64_t i = 0; i < vocab; ++i) t.data<float>()[r * vocab + i] = scale * normal(rng);
  }
  return t;
}

// Every combination the engine sends: greedy with processors, plain temperature, top-k,
// top-p, min-p and their mixes, penalties over a history, a bias.
SamplingRows mixed_rows(int64_t rows, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(vocab - 1));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  SamplingRows s;
  for (int64_t r = 0; r < rows; ++r) {
    RowSampling row;
    const int kind = static_cast<int>(r % 8);
    row.temperature = kind == 0 ? 0.0f : 0.6f + 0.1f * static_cast<float>(r % 7);
    if (kind == 2 || kind == 5) row.top_k = kind == 2 ? 40 : 1000;
    if (kind == 3 || kind == 5) row.top_p = kind == 3 ? 0.9f : 0.8f;
    if (kind == 4 || kind == 5) row.min_p = 0.05f;
    if (kind == 6) row.top_p = 0.5f, row.min_p = 0.2f;
    row.u = unit(rng);
    if (kind == 0 || kind == 7 || kind == 3) {
      row.repetition_penalty = 1.3f;
      row.frequency_penalty = kind == 7 ? 0.4f : 0.0f;
      row.presence_penalty = kind == 7 ? 0.2f : 0.0f;
      row.seen_begin = static_cast<int32_t>(s.seen.size());
      row.counts_begin = static_cast<int32_t>(s.count_tokens.size());
      std::map<int32_t, int> counts;
      for (int i = 0; i < 50; ++i) ++counts[token(rng)];
      for (const auto& [t, c] : counts) s.seen.push_back(t), s.count_tokens.push_back(t), s.counts.push_back(c);
      row.seen_end = static_cast<int32_t>(s.seen.size());
      row.counts_end = static_cast<int32_t>(s.count_tokens.size());
    }
    if (kind == 1 || kind == 6) {
      row.bias_begin = static_cast<int32_t>(s.bias_tokens.size());
      s.bias_tokens.push_back(token(rng)), s.bias.push_back(8.0f);
      s.bias_tokens.push_back(token(rng)), s.bias.push_back(-100.0f);
      row.bias_end = static_cast<int32_t>(s.bias_tokens.size());
    }
    s.rows.push_back(row);
  }
  return s;
}

class CudaSampleRows : public CudaTest {};

TEST_F(CudaSampleRows, TokensAndProcessedLogitsEqualTheHostReference) {
  for (int64_t vocab : {int64_t{1000}, int64_t{49152}, int64_t{151936}}) {
    for (uint32_t seed : {1u, 2u, 3u}) {
      const int64_t rows = 40;
      const Tensor logits = random_logits(rows, vocab, seed * 7 + static_cast<uint32_t>(vocab));
      const SamplingRows sampling = mixed_rows(rows, vocab, seed);
      Tensor device_logits = gpu->upload(host_copy(logits));
      Tensor ids = gpu->upload(i32_host(std::vector<int32_t>(static_cast<size_t>(rows), -7)));
      gpu->sample_rows(ids, device_logits, sampling);
      const Tensor got = gpu->download(ids);
      const Tensor processed = gpu->download(device_logits);
      Tensor expected_logits = host_copy(logits);
      for (int64_t r = 0; r < rows; ++r) {
        std::span<float> row(expected_logits.data<float>() + r * vocab, static_cast<size_t>(vocab));
        const int32_t expected = sample_row(row, sampling, static_cast<size_t>(r));
        EXPECT_EQ(got.data<int32_t>()[r], expected) << "vocab " << vocab << " seed " << seed << " row " << r;
        EXPECT_EQ(std::memcmp(processed.data<float>() + r * vocab, row.data(), row.size_bytes()), 0)
            << "processed logits of row " << r << ", vocab " << vocab;
      }
    }
  }
}

// Sampled tokens follow the distribution: over many uniforms a row's draws split as its
// probabilities, and the same uniform always picks the same token.
TEST_F(CudaSampleRows, DrawsFollowTheUniformsAndRepeat) {
  const int64_t vocab = 64, rows = 512;
  Tensor one = random_logits(1, vocab, 11);
  Tensor logits = Tensor::empty({rows, vocab}, DType::F32);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(logits.data<float>() + r * vocab, one.data<float>(), vocab * 4);
  SamplingRows sampling;
  for (int64_t r = 0; r < rows; ++r) {
    RowSampling row;
    row.temperature = 1.0f;
    row.u = (static_cast<double>(r) + 0.5) / static_cast<double>(rows);
    sampling.rows.push_back(row);
  }
  std::vector<int32_t> first;
  for (int pass = 0; pass < 2; ++pass) {
    Tensor device_logits = gpu->upload(host_copy(logits));
    Tensor ids = gpu->upload(i32_host(std::vector<int32_t>(static_cast<size_t>(rows), -7)));
    gpu->sample_rows(ids, device_logits, sampling);
    const Tensor got = gpu->download(ids);
    std::vector<int32_t> tokens(got.data<int32_t>(), got.data<int32_t>() + rows);
    if (pass == 0) {
      first = tokens;
    } else {
      EXPECT_EQ(tokens, first) << "the same uniforms, another run";
    }
  }
  // Uniforms in order walk the tokens in id order (a plain temperature draw), each token
  // taking a run as long as its probability.
  double max_logit = -1e30, total = 0;
  for (int64_t i = 0; i < vocab; ++i) max_logit = std::max<double>(max_logit, one.data<float>()[i]);
  for (int64_t i = 0; i < vocab; ++i) total += std::exp(one.data<float>()[i] - max_logit);
  std::vector<int> runs(static_cast<size_t>(vocab), 0);
  for (size_t r = 0; r < first.size(); ++r) {
    ASSERT_GE(first[r], 0);
    ASSERT_LT(first[r], vocab);
    if (r > 0) {
      EXPECT_LE(first[r - 1], first[r]) << "draw " << r;
    }
    ++runs[static_cast<size_t>(first[r])];
  }
  for (int64_t i = 0; i < vocab; ++i) {
    const double p = std::exp(one.data<float>()[i] - max_logit) / total;
    EXPECT_NEAR(runs[static_cast<size_t>(i)] / static_cast<double>(rows), p, 1.5 / rows) << "token " << i;
  }
}

// The engine on the GPU: sampled requests (all kinds of truncation, penalties, n > 1,
// logprobs) give the same tokens whether their rows are sampled on the device or on the
// host, from the same logits.
TEST_F(CudaSampleRows, EngineSamplingOnTheDeviceGivesTheHostTokens) {
  const std::string path = tiny_random_model(DType::F32);
  const std::vector<GenerationRequest> requests = testing::mixed_sampling_requests(512, 12);
  std::map<EngineConfig::Sampling, std::vector<std::map<int, testing::ChoiceResult>>> results;
  for (auto mode : {EngineConfig::Sampling::Host, EngineConfig::Sampling::Backend}) {
    LoadOptions load;
    load.device = Device::CUDA;
    auto model = load_model(path, load);
    const int vocab = model->config().vocab_size;
    EngineConfig config;
    config.num_kv_blocks = 128;
    config.max_num_seqs = 32;
    config.log_startup = false;
    config.sampling = mode;
    auto gate = std::make_shared<testing::StartGate>();
    auto engine = make_engine(testing::gated(std::move(model), gate), testing::make_fake_tokenizer(vocab), config);
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (const auto& r : requests) streams.push_back(engine->submit(r));
    gate->open();
    for (auto& st : streams) results[mode].push_back(testing::collect(*st).choices);
  }
  for (size_t i = 0; i < requests.size(); ++i)
    for (const auto& [index, choice] : results[EngineConfig::Sampling::Host][i]) {
      EXPECT_EQ(results[EngineConfig::Sampling::Backend][i].at(index).tokens, choice.tokens)
          << "request " << i << " choice " << index;
      EXPECT_EQ(choice.tokens.size(), 12u);
    }
}

}  // namespace
}  // namespace strata::cuda_test
