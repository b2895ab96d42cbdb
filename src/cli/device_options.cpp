#include "cli/device_options.h"

#include <algorithm>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/make_backend.h"

namespace strata::cli {

EngineInputs load_engine_inputs(const std::string& model_path, int threads, const DeviceArgs& args,
                                EngineConfig& config) {
  EngineInputs inputs;
  inputs.tokenizer = Tokenizer::load(model_path);
  const LoadOptions options = load_options(args, threads);
  inputs.model = load_model(model_path, options);
  size_kv_cache_for_device(config, args, options.device);
  config.sampling = args.sample_on == "device" ? EngineConfig::Sampling::Backend
                    : args.sample_on == "host" ? EngineConfig::Sampling::Host
                                               : EngineConfig::Sampling::Auto;
  return inputs;
}

void add_device_options(CLI::App& app, DeviceArgs& args, bool engine) {
  app.add_option("--device", args.device, "cpu | cuda | auto (auto: cuda when a GPU is present)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->capture_default_str();
  app.add_option("--cpu-activations", args.cpu_activations,
                 "CPU products with quantized weights: int16 activations (the f32 result's top token) or int8 "
                 "(as llama.cpp: faster, near-tie tokens may change)")
      ->check(CLI::IsMember({"int16", "int8"}))
      ->capture_default_str();
  app.add_flag("--batch-invariant", args.batch_invariant,
               "cuda: each request's arithmetic independent of the batch it runs in (the same greedy tokens alone "
               "and in any batch; slower, prefill most); the CPU backend always is");
  if (engine)
    app.add_option("--gpu-memory-utilization", args.gpu_memory_utilization,
                   "share of GPU memory for weights, activations and the KV cache (cuda)")
        ->check(CLI::Range(0.05, 1.0))
        ->capture_default_str();
  if (engine)
    app.add_option("--sample-on", args.sample_on,
                   "where requests without logprobs are sampled: device (by the backend, where the logits are: a GPU "
                   "sends back token ids only, the CPU samples rows in parallel) | host (one row after another) | "
                   "auto (where the backend prefers: device on both)")
        ->check(CLI::IsMember({"auto", "device", "host"}))
        ->capture_default_str();
}

Device resolve_device(const DeviceArgs& args) { return parse_device(args.device); }

LoadOptions load_options(const DeviceArgs& args, int threads) {
  LoadOptions options;
  options.num_threads = threads;
  options.device = resolve_device(args);
  options.cpu_int8_activations = args.cpu_activations == "int8";
  options.batch_invariant = args.batch_invariant;
  return options;
}

void size_kv_cache_for_device(EngineConfig& config, const DeviceArgs& args, Device device) {
  if (device != Device::CUDA || config.num_kv_blocks > 0 || config.kv_cache_memory > 0) return;
  // Activations of a full step, logits and cuBLAS scratch: generous for 8B-class models.
  constexpr int64_t kReserve = int64_t{3} << 29;  // 1.5 GiB
  const CudaMemoryInfo info = cuda_memory_info(0);
  const auto total = static_cast<int64_t>(info.total_bytes), used = total - static_cast<int64_t>(info.free_bytes);
  const int64_t budget = static_cast<int64_t>(args.gpu_memory_utilization * static_cast<double>(total)) - used - kReserve;
  config.kv_cache_memory = std::max<int64_t>(budget, int64_t{64} << 20);
}

}  // namespace strata::cli
