// Loading a Hugging Face directory: config.json + model.safetensors (or shards).
#include "model/load_model_internal.h"
#include "model/model_config.h"
#include "model/safetensors.h"

namespace strata {

std::unique_ptr<CausalLM> load_hf_model(const std::string& directory, const LoadOptions& options) {
  auto model = SafetensorsModel::open(directory);
  const ModelConfig config = model_config_from_hf_json(model->config(), directory + "/config.json");
  TensorLookup lookup = [&](const std::string& name) -> std::optional<Tensor> {
    if (!model->has_tensor(name)) return std::nullopt;
    return model->tensor(name);
  };
  std::vector<Tensor> all;
  for (const auto& name : model->tensor_names()) all.push_back(model->tensor(name));
  return build_llama_model(config, WeightNaming::HuggingFace, lookup, all, options, model);
}

}  // namespace strata
