// load_model(): a GGUF file or a Hugging Face safetensors directory -> a LlamaModel on the
// chosen backend. On the CPU weights stay in the file mapping (zero-copy); loading touches the mapped
// pages in file order so that the first forward pass does not stall on page faults, and
// reports its progress in bytes.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "kernels/make_backend.h"
#include "model/gguf.h"
#include "model/llama.h"
#include "model/load_model_internal.h"
#include "model/model_config.h"

namespace strata {

namespace {

constexpr size_t kPageBytes = 4096;
constexpr size_t kProgressStepBytes = size_t{16} << 20;

// Reads one byte per page of every tensor, in address order, reporting progress.
void touch_pages(std::vector<Tensor> tensors, const std::function<void(size_t, size_t)>& progress) {
  std::sort(tensors.begin(), tensors.end(),
            [](const Tensor& a, const Tensor& b) { return a.raw_data() < b.raw_data(); });
  size_t total = 0;
  for (const auto& t : tensors) total += t.nbytes();
  size_t done = 0, last_report = 0;
  unsigned sink = 0;
  for (const auto& t : tensors) {
    const auto* bytes = static_cast<const volatile unsigned char*>(t.raw_data());
    const size_t n = t.nbytes();
    for (size_t off = 0; off < n; off += kPageBytes) sink += bytes[off];
    done += n;
    if (progress && (done - last_report >= kProgressStepBytes || done == total)) {
      progress(done, total);
      last_report = done;
    }
  }
  if (progress && total == 0) progress(0, 0);
  static_cast<void>(sink);
}

}  // namespace

std::unique_ptr<CausalLM> build_llama_model(const ModelConfig& config, WeightNaming naming,
                                            const TensorLookup& lookup, const std::vector<Tensor>& all_tensors,
                                            const LoadOptions& options, std::shared_ptr<void> keepalive) {
  LlamaWeights weights = load_llama_weights(config, naming, lookup);
  touch_pages(all_tensors, options.progress);
  BackendOptions backend_options;
  backend_options.device = options.device;
  backend_options.num_threads = options.num_threads;
  backend_options.cpu_int8_activations = options.cpu_int8_activations;
  backend_options.batch_invariant = options.batch_invariant;
  return std::make_unique<LlamaModel>(config, std::move(weights), make_backend(backend_options),
                                      std::move(keepalive));
}

std::unique_ptr<CausalLM> load_gguf_model(const std::string& path, const LoadOptions& options) {
  auto file = GGUFFile::open(path);
  const ModelConfig config = model_config_from_gguf(*file);
  TensorLookup lookup = [&](const std::string& name) -> std::optional<Tensor> {
    if (!file->find_tensor(name)) return std::nullopt;
    return file->tensor(name);
  };
  std::vector<Tensor> all;
  for (const auto& info : file->tensor_infos()) all.push_back(file->tensor(info.name));
  return build_llama_model(config, WeightNaming::GGUF, lookup, all, options, file);
}

std::unique_ptr<CausalLM> load_model(const std::string& path, const LoadOptions& options) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) return load_hf_model(path, options);
  if (!fs::exists(path)) throw Error("model file '" + path + "' does not exist");
  return load_gguf_model(path, options);
}

}  // namespace strata
