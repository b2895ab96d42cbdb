// The Llama-family forward pass on random-weight models against Hugging Face transformers
// (golden logits from tools/gen_golden_random.py): llama with llama3 rope scaling (from
// safetensors and from a GGUF with permuted Q/K and interleaved rope), qwen2 (QKV bias,
// tied output), qwen3 (QK-norm, head_dim != hidden / heads). Also batch invariance and
// chunked prefill.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/gguf.h"
#include "model/gguf_writer.h"
#include "sampling/row_sampling.h"
#include "model/model.h"
#include "model/random_model.h"

namespace strata {
namespace {

namespace fs = std::filesystem;

struct Golden {
  uint64_t seed = 0;
  std::string shape;
  std::vector<std::vector<int32_t>> sequences;
  std::vector<std::vector<std::vector<float>>> logits;  // [seq][pos][vocab]
};

Golden load_golden(const std::string& arch) {
  const std::string path = std::string(STRATA_SOURCE_DIR) + "/tests/model/data/golden_random_" + arch + ".json";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing " + path + " (run tools/gen_golden_random.py)");
  const auto j = nlohmann::json::parse(in);
  Golden g;
  g.seed = j.at("seed").get<uint64_t>();
  g.shape = j.at("shape").get<std::string>();
  for (const auto& s : j.at("sequences")) {
    g.sequences.push_back(s.at("tokens").get<std::vector<int32_t>>());
    g.logits.push_back(s.at("logits").get<std::vector<std::vector<float>>>());
  }
  return g;
}

// One directory per process: CTest runs each test in its own process, in parallel, and a
// model file must not be rewritten while another process maps it.
struct ScratchDir {
  fs::path path = fs::path(STRATA_BINARY_DIR) / "test_tmp" / ("model-" + std::to_string(::getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

fs::path scratch_dir() {
  static ScratchDir dir;
  return dir.path;
}

// Makes (once per process) the random model of `arch` in the given format.
std::string model_path(const std::string& arch, const std::string& format, DType dtype, uint64_t seed) {
  const auto path = scratch_dir() / (arch + "-" + std::string(dtype_name(dtype)) + "-" +
                                     std::to_string(seed) + (format == "gguf" ? ".gguf" : ""));
  const auto config = random_model_config(arch, "tiny");
  RandomModelOptions options;
  options.dtype = dtype;
  options.seed = seed;
  if (format == "gguf") write_random_gguf(config, options, path.string());
  else write_random_safetensors(config, options, path.string());
  return path.string();
}

struct Session {
  std::unique_ptr<CausalLM> model;
  KVStorage kv;
};

Session open_model(const std::string& path, DType kv_dtype = DType::F32) {
  Session s;
  LoadOptions options;
  options.num_threads = 2;
  s.model = load_model(path, options);
  s.kv = s.model->backend().allocate_kv(s.model->kv_layout(16, 16, kv_dtype));
  return s;
}

// Logits of every position of `tokens`, prefilled in one pass, using the given blocks.
std::vector<std::vector<float>> all_logits(Session& s, const std::vector<int32_t>& tokens,
                                           const std::vector<int32_t>& blocks) {
  ForwardBatch batch;
  batch.add_sequence(tokens, 0, blocks, 16, ForwardBatch::Logits::All);
  Tensor logits;
  s.model->forward(batch, s.kv, logits);
  const int64_t vocab = logits.size(1);
  std::vector<std::vector<float>> rows;
  for (int64_t r = 0; r < logits.size(0); ++r)
    rows.emplace_back(logits.data<float>() + r * vocab, logits.data<float>() + (r + 1) * vocab);
  return rows;
}

// max |a - b| / max |b| over all rows.
double relative_error(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  double max_diff = 0, max_ref = 0;
  EXPECT_EQ(a.size(), b.size());
  for (size_t r = 0; r < std::min(a.size(), b.size()); ++r) {
    EXPECT_EQ(a[r].size(), b[r].size());
    for (size_t i = 0; i < std::min(a[r].size(), b[r].size()); ++i) {
      max_diff = std::max(max_diff, std::abs(double{a[r][i]} - double{b[r][i]}));
      max_ref = std::max(max_ref, std::abs(double{b[r][i]}));
    }
  }
  return max_diff / max_ref;
}

void expect_matches_golden(const std::string& arch, const std::string& format, double tolerance = 1e-4,
                           DType dtype = DType::F32) {
  const Golden g = load_golden(arch);
  Session s = open_model(model_path(arch, format, dtype, g.seed));
  for (size_t i = 0; i < g.sequences.size(); ++i) {
    const double err = relative_error(all_logits(s, g.sequences[i], {5, 2}), g.logits[i]);
    std::cout << arch << " " << format << " " << dtype_name(dtype) << " sequence " << i
              << ": max relative error " << err << "\n";
    EXPECT_LT(err, tolerance) << arch << " " << format << " sequence " << i;
  }
}

TEST(LlamaRandom, LlamaSafetensorsMatchesTransformers) { expect_matches_golden("llama", "safetensors"); }
TEST(LlamaRandom, LlamaGGUFMatchesTransformers) { expect_matches_golden("llama", "gguf"); }
TEST(LlamaRandom, Qwen2SafetensorsMatchesTransformers) { expect_matches_golden("qwen2", "safetensors"); }
TEST(LlamaRandom, Qwen2GGUFMatchesTransformers) { expect_matches_golden("qwen2", "gguf"); }
TEST(LlamaRandom, Qwen3SafetensorsMatchesTransformers) { expect_matches_golden("qwen3", "safetensors"); }
TEST(LlamaRandom, Qwen3GGUFMatchesTransformers) { expect_matches_golden("qwen3", "gguf"); }
// Quantized weights: close to the f32 reference (the error is the quantization's).
TEST(LlamaRandom, LlamaQ8_0IsClose) { expect_matches_golden("llama", "gguf", 3e-2, DType::Q8_0); }

TEST(LlamaRandom, BatchOfSequencesEqualsEachAlone) {
  const Golden g = load_golden("qwen2");
  Session s = open_model(model_path("qwen2", "gguf", DType::F32, g.seed), DType::F16);
  const auto& a = g.sequences[0];
  const auto& b = g.sequences[1];
  const auto alone_a = all_logits(s, a, {7, 3});
  const auto alone_b = all_logits(s, b, {0});
  ForwardBatch batch;  // b first, in other blocks; a's logits only for its last token
  batch.add_sequence(b, 0, {9}, 16, ForwardBatch::Logits::All);
  batch.add_sequence(a, 0, {4, 11}, 16, ForwardBatch::Logits::Last);
  Tensor logits;
  s.model->forward(batch, s.kv, logits);
  const int64_t vocab = logits.size(1);
  ASSERT_EQ(logits.size(0), static_cast<int64_t>(b.size() + 1));
  std::vector<std::vector<float>> batched_b, batched_a_last;
  for (size_t r = 0; r < b.size(); ++r)
    batched_b.emplace_back(logits.data<float>() + r * vocab, logits.data<float>() + (r + 1) * vocab);
  batched_a_last.emplace_back(logits.data<float>() + b.size() * vocab, logits.data<float>() + (b.size() + 1) * vocab);
  EXPECT_LT(relative_error(batched_b, alone_b), 1e-5);
  EXPECT_LT(relative_error(batched_a_last, {alone_a.back()}), 1e-5);
}

TEST(LlamaRandom, ChunkedPrefillEqualsPrefillAtOnce) {
  const Golden g = load_golden("llama");
  Session s = open_model(model_path("llama", "gguf", DType::F32, g.seed));
  const auto& tokens = g.sequences[0];
  const auto at_once = all_logits(s, tokens, {1, 6});
  const std::vector<int32_t> blocks = {8, 2};
  const size_t split = 13;  // not at a block boundary
  std::vector<std::vector<float>> chunked;
  const std::pair<size_t, size_t> chunks[] = {{0, split}, {split, tokens.size()}};
  for (const auto& [begin, end] : chunks) {
    ForwardBatch batch;
    batch.add_sequence(std::vector<int32_t>(tokens.begin() + begin, tokens.begin() + end),
                       static_cast<int32_t>(begin), blocks, 16, ForwardBatch::Logits::All);
    Tensor logits;
    s.model->forward(batch, s.kv, logits);
    for (int64_t r = 0; r < logits.size(0); ++r)
      chunked.emplace_back(logits.data<float>() + r * logits.size(1), logits.data<float>() + (r + 1) * logits.size(1));
  }
  EXPECT_LT(relative_error(chunked, at_once), 1e-5);
  EXPECT_LT(relative_error({chunked.back()}, {g.logits[0].back()}), 1e-4);
}

// Rewrites a GGUF with one metadata key changed and one tensor left out.
std::string rewritten_gguf(const std::string& source, const std::string& key, uint32_t value,
                           const std::string& drop_tensor, const std::string& name) {
  auto file = GGUFFile::open(source);
  GGUFWriter w;
  for (const auto& [k, v] : file->metadata()) {
    if (k == key) w.add_uint32(k, value);
    else w.add(k, v);
  }
  for (const auto& info : file->tensor_infos()) {
    if (info.name == drop_tensor) continue;
    const Tensor t = file->tensor(info.name);
    w.add_tensor(info.name, t.dtype(), t.shape(),
                 std::span(static_cast<const uint8_t*>(t.raw_data()), t.nbytes()));
  }
  const auto path = (scratch_dir() / name).string();
  w.write(path);
  return path;
}

void expect_load_error(const std::string& path, const std::vector<std::string>& needles) {
  try {
    load_model(path, LoadOptions{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(LlamaRandom, ShapeContradictingMetadataIsNamed) {
  const auto source = model_path("qwen3", "gguf", DType::F32, 3);
  expect_load_error(rewritten_gguf(source, "qwen3.attention.head_count", 4, "", "qwen3-4heads.gguf"),
                    {"blk.0.attn_q.weight", "[512, 256]", "[256, 256]"});
}

TEST(LlamaRandom, MissingTensorIsNamed) {
  const auto source = model_path("llama", "gguf", DType::F32, 3);
  expect_load_error(rewritten_gguf(source, "", 0, "blk.1.ffn_up.weight", "llama-missing.gguf"),
                    {"blk.1.ffn_up.weight", "missing"});
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// forward_step gives each row's argmax (computed by the backend) and, when some row is read
// in full, the same logits as forward(); with no row read in full no logits come back.
TEST(LlamaRandom, ForwardStepArgmaxMatchesTheLogits) {
  const Golden g = load_golden("qwen2");
  Session s = open_model(model_path("qwen2", "gguf", DType::F32, g.seed));
  const auto expected = all_logits(s, g.sequences[0], {5, 2});
  for (bool any_full : {true, false}) {
    ForwardBatch batch;
    batch.add_sequence(g.sequences[0], 0, {5, 2}, 16, ForwardBatch::Logits::All);
    StepLogits out;
    out.full_rows.assign(expected.size(), 0);
    if (any_full) out.full_rows[1] = 1;
    s.model->forward_step(batch, s.kv, out);
    ASSERT_EQ(out.tokens.size(), expected.size());
    EXPECT_EQ(out.logits.defined(), any_full);
    for (size_t r = 0; r < expected.size(); ++r) {
      const auto best = std::max_element(expected[r].begin(), expected[r].end()) - expected[r].begin();
      EXPECT_EQ(out.tokens[r], best) << "row " << r;
    }
  }
}

// With sampling rows, forward_step gives each row's token sampled by the backend, and that
// is sample_row() of the row's logits (the host reference every backend must match).
TEST(LlamaRandom, ForwardStepSamplesEachRowAsTheReference) {
  const Golden g = load_golden("qwen2");
  Session s = open_model(model_path("qwen2", "gguf", DType::F32, g.seed));
  const auto expected = all_logits(s, g.sequences[0], {5, 2});
  SamplingRows sampling;
  for (size_t r = 0; r < expected.size(); ++r) {
    RowSampling row;
    row.temperature = r % 4 == 0 ? 0.0f : 0.7f + 0.1f * static_cast<float>(r % 3);
    row.top_k = r % 3 == 1 ? 20 : -1;
    row.top_p = r % 3 == 2 ? 0.9f : 1.0f;
    row.repetition_penalty = 1.3f;
    row.u = 0.1 + 0.8 * static_cast<double>(r) / static_cast<double>(expected.size());
    row.seen_begin = static_cast<int32_t>(sampling.seen.size());
    for (int32_t t : g.sequences[0]) sampling.seen.push_back(t);
    row.seen_end = static_cast<int32_t>(sampling.seen.size());
    sampling.rows.push_back(row);
  }
  ForwardBatch batch;
  batch.add_sequence(g.sequences[0], 0, {5, 2}, 16, ForwardBatch::Logits::All);
  StepLogits out;
  out.full_rows.assign(expected.size(), 0);
  out.sampling = sampling;
  s.model->forward_step(batch, s.kv, out);
  ASSERT_EQ(out.tokens.size(), expected.size());
  for (size_t r = 0; r < expected.size(); ++r) {
    std::vector<float> row = expected[r];
    EXPECT_EQ(out.tokens[r], sample_row(row, sampling, r)) << "row " << r;
  }
}

}  // namespace
}  // namespace strata
