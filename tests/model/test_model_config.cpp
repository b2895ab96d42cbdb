// ModelConfig from GGUF metadata and from config.json: every field against the values
// written, rope layouts per format, and errors naming the missing or unknown field.
#include <gtest/gtest.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/gguf.h"
#include "model/gguf_writer.h"
#include "model/model_config.h"
#include "model/random_model.h"

namespace strata {
namespace {

std::shared_ptr<GGUFFile> parse(const GGUFWriter& w) {
  auto bytes = w.to_bytes();
  auto storage = Storage::allocate_host(bytes.size());
  std::memcpy(storage->data, bytes.data(), bytes.size());
  return GGUFFile::from_memory(storage, "test.gguf");
}

GGUFWriter llama_writer() {
  GGUFWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("general.name", "tiny");
  w.add_uint32("llama.block_count", 3);
  w.add_uint32("llama.embedding_length", 64);
  w.add_uint32("llama.feed_forward_length", 96);
  w.add_uint32("llama.attention.head_count", 4);
  w.add_uint32("llama.attention.head_count_kv", 2);
  w.add_uint32("llama.context_length", 4096);
  w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.add_float32("llama.rope.freq_base", 500000.0f);
  w.add_uint32("llama.vocab_size", 300);
  return w;
}

void add_vector(GGUFWriter& w, const std::string& name, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n), 1.0f);
  w.add_tensor(name, DType::F32, {n}, std::span(reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4));
}

TEST(ModelConfigGGUF, LlamaFields) {
  auto w = llama_writer();
  w.add_string("llama.rope.scaling.type", "llama3");
  w.add_float32("llama.rope.scaling.factor", 8.0f);
  w.add_float32("llama.rope.scaling.low_freq_factor", 1.0f);
  w.add_float32("llama.rope.scaling.high_freq_factor", 4.0f);
  w.add_uint32("llama.rope.scaling.original_context_length", 8192);
  const auto c = model_config_from_gguf(*parse(w));
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.name, "tiny");
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 96);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.vocab_size, 300);
  EXPECT_EQ(c.context_length, 4096);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope.theta, 500000.0f);
  EXPECT_FALSE(c.rope.neox) << "GGUF llama stores Q/K for interleaved pairs";
  EXPECT_EQ(c.rope.rotary_dim, 16);
  EXPECT_EQ(c.rope.scaling, RopeConfig::Scaling::Llama3);
  EXPECT_FLOAT_EQ(c.rope.factor, 8.0f);
  EXPECT_EQ(c.rope.original_max_positions, 8192);
  EXPECT_TRUE(c.tied_embeddings) << "no output.weight";
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.qk_norm);
}

TEST(ModelConfigGGUF, Qwen3HeadDimFromKeyLength) {
  GGUFWriter w;
  w.add_string("general.architecture", "qwen3");
  w.add_uint32("qwen3.block_count", 2);
  w.add_uint32("qwen3.embedding_length", 64);
  w.add_uint32("qwen3.feed_forward_length", 96);
  w.add_uint32("qwen3.attention.head_count", 8);
  w.add_uint32("qwen3.attention.head_count_kv", 2);
  w.add_uint32("qwen3.attention.key_length", 32);
  w.add_uint32("qwen3.context_length", 1024);
  add_vector(w, "output.weight", 64);  // only its presence matters here
  std::vector<float> embd(100 * 64, 0.0f);
  w.add_tensor("token_embd.weight", DType::F32, {100, 64},
               std::span(reinterpret_cast<const uint8_t*>(embd.data()), embd.size() * 4));
  const auto c = model_config_from_gguf(*parse(w));
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.vocab_size, 100) << "from token_embd.weight";
  EXPECT_TRUE(c.qk_norm);
  EXPECT_TRUE(c.rope.neox);
  EXPECT_FALSE(c.tied_embeddings);
}

TEST(ModelConfigGGUF, UnknownArchitectureNamed) {
  GGUFWriter w;
  w.add_string("general.architecture", "mamba");
  try {
    model_config_from_gguf(*parse(w));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mamba"), std::string::npos) << e.what();
  }
}

TEST(ModelConfigGGUF, MissingFieldNamed) {
  GGUFWriter w;
  w.add_string("general.architecture", "qwen2");
  w.add_uint32("qwen2.block_count", 2);
  try {
    model_config_from_gguf(*parse(w));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("qwen2.embedding_length"), std::string::npos) << e.what();
  }
}

nlohmann::json llama3_json() {
  return nlohmann::json::parse(R"({
    "model_type": "llama", "num_hidden_layers": 4, "hidden_size": 128, "intermediate_size": 256,
    "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "tie_word_embeddings": true})");
}

TEST(ModelConfigHF, Llama3) {
  const auto c = model_config_from_hf_json(llama3_json(), "config.json");
  EXPECT_EQ(c.num_layers, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.context_length, 131072);
  EXPECT_TRUE(c.rope.neox);
  EXPECT_EQ(c.rope.scaling, RopeConfig::Scaling::Llama3);
  EXPECT_FLOAT_EQ(c.rope.factor, 32.0f);
  EXPECT_FLOAT_EQ(c.rope.high_freq_factor, 4.0f);
  EXPECT_EQ(c.rope.original_max_positions, 8192);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_FALSE(c.qkv_bias);
}

TEST(ModelConfigHF, QwenVariants) {
  auto j = llama3_json();
  j.erase("rope_scaling");
  j["model_type"] = "qwen2";
  auto c = model_config_from_hf_json(j, "config.json");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_EQ(c.rope.scaling, RopeConfig::Scaling::None);
  j["model_type"] = "qwen3";
  j["head_dim"] = 64;
  c = model_config_from_hf_json(j, "config.json");
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_EQ(c.head_dim, 64);
}

void expect_error_naming(nlohmann::json j, const std::string& needle) {
  try {
    model_config_from_hf_json(j, "dir/config.json");
    FAIL() << "expected an error naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dir/config.json"), std::string::npos) << e.what();
  }
}

TEST(ModelConfigHF, ErrorsNameTheField) {
  auto j = llama3_json();
  j.erase("num_hidden_layers");
  expect_error_naming(j, "num_hidden_layers");
  j = llama3_json();
  j["hidden_size"] = "big";
  expect_error_naming(j, "hidden_size");
  j = llama3_json();
  j["model_type"] = "gpt2";
  expect_error_naming(j, "gpt2");
  j = llama3_json();
  j["rope_scaling"]["rope_type"] = "yarn";
  expect_error_naming(j, "yarn");
}

TEST(RandomModel, PermutationMatchesConverterFormula) {
  // reshape(heads, 2, hd/2, cols).swapaxes(1, 2): new row (h, i, part) = old row (h, part, i).
  const int heads = 2, hd = 4;
  const int64_t cols = 3;
  std::vector<float> v(heads * hd * cols);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  const auto p = permute_for_interleaved_rope(v, heads, hd, cols);
  const int expected_source_rows[] = {0, 2, 1, 3, 4, 6, 5, 7};
  for (int r = 0; r < heads * hd; ++r)
    for (int c = 0; c < cols; ++c)
      EXPECT_EQ(p[r * cols + c], v[expected_source_rows[r] * cols + c]) << r;
}

TEST(RandomModel, DeterministicWeights) {
  const auto c = random_model_config("qwen2", "tiny");
  auto a = random_model_layout(c), b = random_model_layout(c);
  fill_random_tensor(a[3], 5);
  fill_random_tensor(b[3], 5);
  EXPECT_EQ(a[3].values, b[3].values);
  fill_random_tensor(b[3], 6);
  EXPECT_NE(a[3].values, b[3].values);
  double sum = 0, sq = 0;
  for (float x : a[3].values) sum += x, sq += double{x} * x;
  const double n = static_cast<double>(a[3].values.size());
  EXPECT_NEAR(sum / n, 0.0, 0.002);
  EXPECT_NEAR(std::sqrt(sq / n), 0.02, 0.001);
}

}  // namespace
}  // namespace strata
