#pragma once
// --device and --gpu-memory-utilization, shared by the commands that load a model.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "core/tensor.h"
#include "engine/engine_config.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace strata::cli {

struct DeviceArgs {
  std::string device = "auto";
  double gpu_memory_utilization = 0.9;
  std::string sample_on = "auto";  // engines: auto | device | host (EngineConfig::sampling)
  std::string cpu_activations = "int16";  // int16 | int8 (CpuBackendOptions::int8_activations)
  bool batch_invariant = false;  // LoadOptions::batch_invariant
};

// Adds --device, --cpu-activations and --batch-invariant (and, for engines, --gpu-memory-utilization and
// --sample-on).
void add_device_options(CLI::App& app, DeviceArgs& args, bool engine);

// The device chosen (auto: CUDA when this build has it and a GPU is present).
Device resolve_device(const DeviceArgs& args);

// How to load a model for these options: the device, CPU threads and CPU activations.
LoadOptions load_options(const DeviceArgs& args, int threads);

// On CUDA, unless the user fixed the KV cache size: the KV budget is what remains of
// gpu_memory_utilization of the GPU's memory once the weights are loaded, less a reserve
// for activations and scratch.
void size_kv_cache_for_device(EngineConfig& config, const DeviceArgs& args, Device device);

// What an engine is built from, loaded the way every engine command does it: the model on
// the chosen device and, on CUDA, `config`'s KV budget sized from what remains; `config`'s
// sampling place from --sample-on.
struct EngineInputs {
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<CausalLM> model;
};
EngineInputs load_engine_inputs(const std::string& model_path, int threads, const DeviceArgs& args,
                                EngineConfig& config);

}  // namespace strata::cli
