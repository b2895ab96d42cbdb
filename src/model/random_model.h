#pragma once
// Random-weight Llama-family models for tests and benchmarks: a configuration per named
// shape and deterministic weights (same seed, same bytes on every machine: splitmix64 and
// Box-Muller in double, no std distributions). Matrices ~ N(0, 0.02), norm weights ~
// 1 + N(0, 0.02), Qwen2 biases non-zero, so activations look like a trained model's.
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "model/model.h"

namespace strata {

// arch: llama | qwen2 | qwen3; shape: tiny | smollm2-135m | llama-3.2-1b | llama-3.1-8b
// (llama-8b: the same as llama-3.1-8b).
ModelConfig random_model_config(const std::string& arch, const std::string& shape);

// One tensor in Hugging Face layout and naming (Q/K not permuted), f32 values.
struct RandomTensor {
  std::string hf_name;
  std::string gguf_name;
  std::vector<int64_t> shape;  // row-major
  std::vector<float> values;
};

// The model's tensor names and shapes, in file order (values left empty).
std::vector<RandomTensor> random_model_layout(const ModelConfig& config);
// Fills one tensor's values; each tensor's stream depends only on (seed, its name).
void fill_random_tensor(RandomTensor& tensor, uint64_t seed);

struct RandomModelOptions {
  DType dtype = DType::F32;     // of the matrices (norms and biases stay f32 in GGUF)
  uint64_t seed = 0;
  std::string tokenizer_from;   // GGUF whose tokenizer.* metadata is copied (optional)
  bool pad_vocab = false;       // pad that tokenizer's vocabulary up to the shape's (GGUF)
};

// A GGUF file as llama.cpp's converter would write it (llama: Q/K rows permuted).
void write_random_gguf(const ModelConfig& config, const RandomModelOptions& options, const std::string& path);
// A Hugging Face directory: config.json + model.safetensors (dtype f32, f16 or bf16).
void write_random_safetensors(const ModelConfig& config, const RandomModelOptions& options,
                              const std::string& directory);

// llama.cpp's converter permutation of a Q or K weight [heads * head_dim, cols] (or bias,
// cols = 1): row (h, half, i) of the Hugging Face layout moves to row (h, i, half).
std::vector<float> permute_for_interleaved_rope(const std::vector<float>& values, int heads,
                                                int head_dim, int64_t cols);

}  // namespace strata
