#pragma once
// The Engine implementation: one thread runs the step loop (drain submissions and
// aborts, schedule, run the plan on the model, sample, detokenize, deliver); callers
// talk to it only through the inbox (a mutex-protected queue) and the streams.
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cache/kv_cache_manager.h"
#include "engine/engine.h"
#include "engine/engine_config.h"
#include "engine/model_runner.h"
#include "engine/output_delivery.h"
#include "engine/request_state.h"
#include "model/model.h"
#include "scheduler/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace strata {

class LLMEngine final : public Engine {
 public:
  LLMEngine(std::unique_ptr<CausalLM> model, std::unique_ptr<Tokenizer> tokenizer, EngineConfig config);
  ~LLMEngine() override;

  std::shared_ptr<RequestStream> submit(GenerationRequest request) override;
  EngineStats stats() const override;
  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  int context_length() const override { return model_->config().context_length; }
  int vocab_size() const override { return model_->config().vocab_size; }
  void shutdown(std::chrono::milliseconds timeout) override;

  // Aborts a request by id (as its stream's abort() does); unknown ids are ignored.
  void abort(const std::string& request_id);
  int num_kv_blocks() const { return num_blocks_; }

 private:
  struct Submission {
    GenerationRequest request;
    std::shared_ptr<QueuedRequestStream> stream;
  };
  // Everything other threads touch, behind one mutex.
  struct Inbox {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Submission> submissions;
    std::vector<std::string> aborts;
    std::set<std::string> live_ids;
    // Requests queued in the engine: the scheduler's waiting count as of the last step
    // plus submissions taken from the inbox but not yet admitted (so that a submission
    // in transit is never missed by the max_queued check).
    int num_waiting = 0;
    bool accepting = true;
    bool stop = false;
  };

  void validate(const GenerationRequest& request) const;
  void loop();
  void admit(Submission submission);
  void step();
  // How a logits row of the step is sampled: its argmax found by the backend, sampled by the
  // backend (RowSampling), or read in full on the host.
  enum class RowSource { Argmax, Backend, Host };
  RowSource row_source(SequenceId id) const;
  // Whether any choice that samples from this sequence's logits needs them in full.
  bool reads_logits(SequenceId id) const;
  // Samples from row `row` of the step's logits (in full, or only the token found for it).
  void sample_sequence(SequenceId id, int row);
  SampleResult sample_choice(ChoiceState& choice, int row);
  void take_token(ActiveRequest& request, int index, const SampleResult& sample);
  void end_request(const std::string& request_id, FinishReason reason, const std::string& error);
  void deliver();
  void publish_stats();
  void publish_waiting();

  std::unique_ptr<CausalLM> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  EngineConfig config_;
  int num_blocks_ = 0;
  std::unique_ptr<KVCacheManager> kv_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ModelRunner> runner_;

  // Engine thread only.
  std::map<std::string, std::unique_ptr<ActiveRequest>> requests_;
  std::map<SequenceId, std::pair<ActiveRequest*, int>> owner_of_sequence_;
  SequenceId next_sequence_id_ = 0;
  uint64_t next_arrival_ = 0;
  StepLogits logits_;
  bool sample_on_backend_ = false;  // config_.sampling resolved against the backend
  std::vector<float> row_scratch_;
  int64_t prompt_tokens_total_ = 0;
  int64_t generation_tokens_total_ = 0;
  int64_t steps_ = 0;
  double step_seconds_ = 0, model_seconds_ = 0;

  std::shared_ptr<Inbox> inbox_;
  mutable std::mutex stats_mutex_;
  EngineStats stats_;
  OutputDelivery delivery_;  // before thread_: the loop sends to it until it ends
  std::thread thread_;
};

// Chooses the number of KV blocks for `config` (see EngineConfig) given the model's
// layout of one block.
int plan_kv_blocks(const EngineConfig& config, const ModelConfig& model, size_t bytes_per_block);
// Where plan_kv_blocks took its budget from, for the start-up line.
std::string kv_budget_source(const EngineConfig& config);

}  // namespace strata
