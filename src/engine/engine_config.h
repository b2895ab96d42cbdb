#pragma once
// How an engine is sized and what policies it follows. Travels as an explicit struct
// from the CLI / server flags to make_engine.
#include <cstdint>

#include "core/dtype.h"
#include "scheduler/scheduler.h"

namespace strata {

struct EngineConfig {
  int block_size = 16;                  // tokens per KV block
  // KV cache budget: exactly num_kv_blocks if > 0; else kv_cache_memory bytes if > 0;
  // else the default: kv_cache_memory_fraction of the host's available memory, at most
  // kv_cache_memory_cap (a CPU server rarely needs more; vLLM's CPU backend defaults to
  // 4 GiB), and at most what max_num_seqs sequences of the full context could use.
  // The memory is mapped lazily: pages become resident as blocks are first written,
  // unless prefault_kv_cache (the server): then all of it is made resident at start, so
  // the idle footprint is the footprint under load, as in vLLM's preallocated cache.
  int num_kv_blocks = 0;
  int64_t kv_cache_memory = 0;
  double kv_cache_memory_fraction = 0.25;
  int64_t kv_cache_memory_cap = int64_t{4} << 30;
  DType kv_dtype = DType::F16;
  int max_num_seqs = 64;                // running sequences
  int max_batched_tokens = 2048;        // tokens per step (decode + prefill chunks)
  int max_queued = 4096;                // waiting requests before submit throws QueueFullError
  PreemptionMode preemption = PreemptionMode::Recompute;
  bool enable_prefix_caching = true;
  int64_t swap_space = 0;               // bytes of host memory for swapped-out blocks
  bool prefault_kv_cache = false;       // touch every KV page at start (host KV memory)
  bool reserve_step_buffers = false;    // size the model's step buffers for the largest step at start
  bool log_startup = true;              // print the KV budget to stderr at start
  // Where rows that need no logprobs are sampled: Auto where the backend prefers it (a GPU,
  // which then sends back token ids only; the CPU, which samples rows on its threads), else
  // by the engine, one row after another; Backend and Host force one.
  enum class Sampling { Auto, Backend, Host };
  Sampling sampling = Sampling::Auto;
};

}  // namespace strata
