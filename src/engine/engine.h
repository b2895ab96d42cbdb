#pragma once
// The engine: one thread runs the step loop (schedule, run the model, sample, detokenize,
// deliver); any thread may submit, read streams and abort through this thread-safe API.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/engine_config.h"
#include "engine/request.h"

namespace strata {

class Tokenizer;
class CausalLM;
class Backend;

// A request's output stream: a queue of RequestOutputs the engine fills.
class RequestStream {
 public:
  virtual ~RequestStream() = default;
  // Waits up to `timeout` for output; returns nullopt on timeout. After the output with
  // finished == true, returns that terminal state immediately forever.
  virtual std::optional<RequestOutput> next(std::chrono::milliseconds timeout) = 0;
  // Asks the engine to stop this request; its blocks are freed within one step.
  virtual void abort() = 0;
  virtual const std::string& request_id() const = 0;
};

struct EngineStats {
  int running = 0;
  int waiting = 0;
  int swapped = 0;
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;
  int64_t prefix_cache_hits = 0;     // tokens
  int64_t prefix_cache_queries = 0;  // tokens
  int64_t prefix_cache_evictions = 0;
  int64_t preemptions = 0;
  int64_t swap_outs = 0;             // preemptions by swapping to host memory
  int64_t prompt_tokens_total = 0;
  int64_t generation_tokens_total = 0;
  int64_t steps = 0;
  // Time in steps (schedule, the forward pass, sampling, detokenization, delivery) and, of
  // it, in the model's forward pass: the rest is the engine's own cost, which a GPU waits on.
  double step_seconds = 0;
  double model_seconds = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  // Throws InvalidArgument (e.g. prompt longer than the context) or
  // QueueFullError when the waiting queue is at its limit.
  virtual std::shared_ptr<RequestStream> submit(GenerationRequest request) = 0;
  virtual EngineStats stats() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;
  virtual int context_length() const = 0;
  virtual int vocab_size() const = 0;
  // Stops accepting, lets in-flight requests finish (up to `timeout`), then aborts the rest.
  virtual void shutdown(std::chrono::milliseconds timeout) = 0;
};

class QueueFullError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The engine over a loaded model and its tokenizer (see engine/engine_config.h for the
// KV budget and scheduling limits). Starts the step-loop thread; logs the KV budget.
std::unique_ptr<Engine> make_engine(std::unique_ptr<CausalLM> model, std::unique_ptr<Tokenizer> tokenizer,
                                    EngineConfig config);

// Whether an engine of `config` on `backend` samples rows there (EngineConfig::sampling).
bool samples_on_backend(const EngineConfig& config, const Backend& backend);

}  // namespace strata
