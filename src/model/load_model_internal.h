#pragma once
// The two loaders behind load_model() (model/model.h).
#include <memory>
#include <string>

#include <vector>

#include "model/llama_weights.h"
#include "model/model.h"

namespace strata {

std::unique_ptr<CausalLM> load_gguf_model(const std::string& path, const LoadOptions& options);
std::unique_ptr<CausalLM> load_hf_model(const std::string& directory, const LoadOptions& options);

// Gathers the weights, touches every tensor's pages (progress) and builds a LlamaModel on
// the backend of options.device; `keepalive` owns the mappings the weights point into.
std::unique_ptr<CausalLM> build_llama_model(const ModelConfig& config, WeightNaming naming,
                                            const TensorLookup& lookup, const std::vector<Tensor>& all_tensors,
                                            const LoadOptions& options, std::shared_ptr<void> keepalive);

}  // namespace strata
