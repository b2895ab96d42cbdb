// strata make-model: writes a random-weight Llama-family model (GGUF or a Hugging Face
// safetensors directory) for tests and benchmarks. Deterministic for a given seed.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "model/gguf.h"
#include "model/random_model.h"

namespace strata::cli {

namespace {

struct MakeModelArgs {
  std::string arch = "llama";
  std::string shape = "tiny";
  std::string dtype = "f32";
  std::string format = "gguf";
  uint64_t seed = 0;
  std::string tokenizer_from;
  bool pad_vocab = false;
  std::string output;
};

DType parse_weight_dtype(const std::string& name) {
  auto d = dtype_from_name(name);
  if (!d || *d == DType::I32)
    throw InvalidArgument("--dtype", "unknown weight type '" + name +
                                         "' (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k)");
  return *d;
}

}  // namespace

int make_model_command(int argc, char** argv) {
  CLI::App app{"Write a random-weight model file (tests, benchmarks)", "strata make-model"};
  MakeModelArgs a;
  app.add_option("--arch", a.arch, "llama | qwen2 | qwen3")->check(CLI::IsMember({"llama", "qwen2", "qwen3"}));
  app.add_option("--shape", a.shape, "tiny | smollm2-135m | llama-3.2-1b | llama-3.1-8b (= llama-8b)")
      ->check(CLI::IsMember({"tiny", "smollm2-135m", "llama-3.2-1b", "llama-3.1-8b", "llama-8b"}));
  app.add_option("--dtype", a.dtype, "weight type of the matrices (f32, f16, bf16, q8_0, q4_0, q4_1, ...)");
  app.add_option("--format", a.format, "gguf | safetensors")->check(CLI::IsMember({"gguf", "safetensors"}));
  app.add_option("--seed", a.seed, "random seed (same seed, same file)");
  app.add_option("--tokenizer-from", a.tokenizer_from, "GGUF file whose tokenizer metadata is copied (GGUF only)");
  app.add_flag("--pad-vocab", a.pad_vocab,
               "keep the shape's vocabulary size, padding the copied tokenizer with unused tokens");
  app.add_option("-o,--output", a.output, "output file (gguf) or directory (safetensors)")->required();
  CLI11_PARSE(app, argc, argv);

  ModelConfig config = random_model_config(a.arch, a.shape);
  RandomModelOptions options;
  options.dtype = parse_weight_dtype(a.dtype);
  options.seed = a.seed;
  options.tokenizer_from = a.tokenizer_from;
  options.pad_vocab = a.pad_vocab;
  if (!a.tokenizer_from.empty()) {
    if (a.format != "gguf") throw InvalidArgument("--tokenizer-from", "--tokenizer-from needs --format gguf");
    // The vocabulary decides the embedding size, unless padded up to the shape's.
    const int tokens =
        static_cast<int>(GGUFFile::open(a.tokenizer_from)->get_string_array("tokenizer.ggml.tokens").size());
    if (!a.pad_vocab || tokens > config.vocab_size) config.vocab_size = tokens;
  }
  if (a.format == "gguf") write_random_gguf(config, options, a.output);
  else write_random_safetensors(config, options, a.output);
  std::cerr << "wrote " << a.output << " (" << config.name << ", " << a.dtype << ", seed " << a.seed << ")\n";
  return 0;
}

}  // namespace strata::cli
