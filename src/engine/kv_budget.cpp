// Sizing the KV cache from the configured budget.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/error.h"
#include "engine/llm_engine.h"

namespace strata {
namespace {

// MemAvailable from /proc/meminfo in bytes, or 0 when unknown.
int64_t available_host_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return 0;
}

}  // namespace

int plan_kv_blocks(const EngineConfig& config, const ModelConfig& model, size_t bytes_per_block) {
  if (config.num_kv_blocks > 0) return config.num_kv_blocks;
  if (bytes_per_block == 0) throw Error("KV block size in bytes is zero");
  int64_t budget = config.kv_cache_memory;
  if (budget <= 0) {
    budget = static_cast<int64_t>(config.kv_cache_memory_fraction * static_cast<double>(available_host_memory()));
    if (config.kv_cache_memory_cap > 0) budget = std::min(budget, config.kv_cache_memory_cap);
    // More than every running sequence at full context could use is wasted memory.
    const int64_t useful_blocks =
        int64_t{config.max_num_seqs} * BlockTable::blocks_for(model.context_length, config.block_size) + 1;
    budget = std::min<int64_t>(budget, useful_blocks * static_cast<int64_t>(bytes_per_block));
  }
  const int64_t blocks = budget / static_cast<int64_t>(bytes_per_block);
  if (blocks <= 0)
    throw InvalidArgument("kv-cache-memory", "the KV cache budget of " + std::to_string(budget) +
                                                 " bytes holds no block of " + std::to_string(bytes_per_block) + " bytes");
  return static_cast<int>(std::min<int64_t>(blocks, 1 << 30));
}

std::string kv_budget_source(const EngineConfig& config) {
  if (config.num_kv_blocks > 0) return "--num-kv-blocks";
  if (config.kv_cache_memory > 0) return "--kv-cache-memory";
  char text[160];
  std::snprintf(text, sizeof text, "default: %.0f%% of available memory, at most %.1f GiB, at most max-num-seqs full contexts",
                config.kv_cache_memory_fraction * 100.0,
                static_cast<double>(config.kv_cache_memory_cap) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

}  // namespace strata
