// Writes a random-weight model as GGUF, laid out as llama.cpp's converter lays out a
// Hugging Face checkpoint: GGUF names, norms and biases in f32, matrices in the chosen
// type, and for arch "llama" the Q/K rows permuted for the interleaved rotary layout.
#include <algorithm>
#include <cstring>
#include <deque>
#include <future>
#include <thread>

#include "core/error.h"
#include "kernels/cpu/quant.h"
#include "model/gguf.h"
#include "model/gguf_writer.h"
#include "model/random_model.h"

namespace strata {

namespace {

void add_config_metadata(GGUFWriter& w, const ModelConfig& c) {
  const std::string& a = c.architecture;
  w.add_string("general.architecture", a);
  w.add_string("general.name", c.name);
  w.add_uint32(a + ".context_length", static_cast<uint32_t>(c.context_length));
  w.add_uint32(a + ".embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.add_uint32(a + ".block_count", static_cast<uint32_t>(c.num_layers));
  w.add_uint32(a + ".feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  w.add_uint32(a + ".attention.head_count", static_cast<uint32_t>(c.num_heads));
  w.add_uint32(a + ".attention.head_count_kv", static_cast<uint32_t>(c.num_kv_heads));
  w.add_uint32(a + ".attention.key_length", static_cast<uint32_t>(c.head_dim));
  w.add_uint32(a + ".attention.value_length", static_cast<uint32_t>(c.head_dim));
  w.add_float32(a + ".attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  w.add_float32(a + ".rope.freq_base", c.rope.theta);
  w.add_uint32(a + ".rope.dimension_count", static_cast<uint32_t>(c.rope.rotary_dim));
  w.add_uint32(a + ".vocab_size", static_cast<uint32_t>(c.vocab_size));
  if (c.rope.scaling == RopeConfig::Scaling::Llama3) {
    w.add_string(a + ".rope.scaling.type", "llama3");
    w.add_float32(a + ".rope.scaling.factor", c.rope.factor);
    w.add_float32(a + ".rope.scaling.low_freq_factor", c.rope.low_freq_factor);
    w.add_float32(a + ".rope.scaling.high_freq_factor", c.rope.high_freq_factor);
    w.add_uint32(a + ".rope.scaling.original_context_length", static_cast<uint32_t>(c.rope.original_max_positions));
  } else if (c.rope.scaling == RopeConfig::Scaling::Linear) {
    w.add_string(a + ".rope.scaling.type", "linear");
    w.add_float32(a + ".rope.scaling.factor", c.rope.factor);
  }
}

// Copies the tokenizer.* metadata; with pad_to > 0, appends unused normal tokens until the
// vocabulary has pad_to entries, so that a model of a large-vocabulary shape can carry a
// smaller real tokenizer (generated ids past the real ones decode as placeholder text).
void copy_tokenizer_metadata(GGUFWriter& w, const std::string& path, int pad_to) {
  auto source = GGUFFile::open(path);
  for (auto [key, value] : source->metadata()) {
    if (key.rfind("tokenizer.", 0) != 0) continue;
    auto* array = std::get_if<GGUFValue::Array>(&value.value);
    if (pad_to > 0 && array && (key == "tokenizer.ggml.tokens" || key == "tokenizer.ggml.token_type" ||
                                key == "tokenizer.ggml.scores")) {
      for (auto n = static_cast<int>(array->items.size()); n < pad_to; ++n) {
        if (key == "tokenizer.ggml.tokens") array->items.push_back(gguf_string("<|strata_pad_" + std::to_string(n) + "|>"));
        else if (key == "tokenizer.ggml.token_type") array->items.push_back(gguf_int(GGUFValue::Type::Int32, 1));
        else array->items.push_back(gguf_float(GGUFValue::Type::Float32, 0.0));
      }
    }
    w.add(key, value);
  }
}

std::vector<uint8_t> encode_rows(const RandomTensor& t, DType dtype) {
  const int64_t cols = t.shape.back();
  const int64_t rows = static_cast<int64_t>(t.values.size()) / cols;
  const auto& info = dtype_info(dtype);
  if (cols % info.block_size != 0)
    throw InvalidArgument("--dtype", "tensor '" + t.gguf_name + "' has rows of " + std::to_string(cols) +
                                         " values, not a multiple of the " + std::string(info.name) +
                                         " block size " + std::to_string(info.block_size));
  const int64_t row_bytes = dtype_row_bytes(dtype, cols);
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * row_bytes));
  for (int64_t r = 0; r < rows; ++r)
    cpu::quantize_row(dtype, t.values.data() + r * cols, bytes.data() + r * row_bytes, cols);
  return bytes;
}

void permute_qk(RandomTensor& t, const ModelConfig& c) {
  const bool is_q = t.gguf_name.ends_with("attn_q.weight");
  const bool is_k = t.gguf_name.ends_with("attn_k.weight");
  if (!is_q && !is_k) return;
  t.values = permute_for_interleaved_rope(t.values, is_q ? c.num_heads : c.num_kv_heads, c.head_dim,
                                          t.shape.back());
}

}  // namespace

void write_random_gguf(const ModelConfig& config, const RandomModelOptions& options, const std::string& path) {
  GGUFWriter writer;
  add_config_metadata(writer, config);
  if (!options.tokenizer_from.empty())
    copy_tokenizer_metadata(writer, options.tokenizer_from, options.pad_vocab ? config.vocab_size : 0);
  std::vector<RandomTensor> layout = random_model_layout(config);
  const auto dtype_of = [&](const RandomTensor& t) { return t.shape.size() == 1 ? DType::F32 : options.dtype; };
  for (const auto& t : layout) writer.add_deferred_tensor(t.gguf_name, dtype_of(t), t.shape);
  // Each tensor's values depend only on (seed, name), so tensors are made in parallel, a
  // window ahead of the writer, and the file is the same whatever the thread count.
  const auto make = [&](size_t i) {
    RandomTensor t = layout[i];
    fill_random_tensor(t, options.seed);
    if (config.architecture == "llama") permute_qk(t, config);
    return encode_rows(t, dtype_of(t));
  };
  const size_t window = std::max(1u, std::thread::hardware_concurrency());
  std::deque<std::future<std::vector<uint8_t>>> ahead;
  size_t next = 0;
  const auto top_up = [&] {
    while (next < layout.size() && ahead.size() < window) ahead.push_back(std::async(std::launch::async, make, next++));
  };
  writer.write_streaming(path, [&](size_t) {
    top_up();
    std::vector<uint8_t> bytes = ahead.front().get();
    ahead.pop_front();
    top_up();
    return bytes;
  });
}

}  // namespace strata
