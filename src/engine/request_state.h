#pragma once
// The engine thread's state for one request: its n choices (each with its own seeded
// sampler, incremental detokenizer and stop checker, and later its own sequence), and
// the output delta being gathered during the current step.
#include <memory>
#include <optional>
#include <vector>

#include "engine/output_delivery.h"
#include "engine/request.h"
#include "engine/request_stream.h"
#include "engine/stop_checker.h"
#include "sampling/sampler.h"
#include "scheduler/sequence.h"
#include "tokenizer/tokenizer.h"

namespace strata {

struct ChoiceState {
  ChoiceState(const GenerationRequest& request, int index, uint64_t seed, const Tokenizer& tokenizer);

  int index;
  SequenceId seq = -1;  // -1 until an n > 1 request forks after its prompt
  SequenceSampler sampler;
  IncrementalDetokenizer detokenizer;
  StopChecker stop;
  bool finished = false;
};

class ActiveRequest {
 public:
  // `seed` is the request's base seed: choice i samples with seed + i.
  ActiveRequest(GenerationRequest request, std::shared_ptr<QueuedRequestStream> stream,
                const Tokenizer& tokenizer, uint64_t seed);

  const GenerationRequest& request() const { return request_; }
  int num_choices() const { return static_cast<int>(choices_.size()); }
  ChoiceState& choice(int index) { return *choices_[static_cast<size_t>(index)]; }
  // Whether the choices still share one sequence (n > 1 before the prompt is computed).
  bool forked() const { return forked_; }
  void set_forked() { forked_ = true; }
  void set_cached_prompt_tokens(int n) { output_.cached_prompt_tokens = n; }

  // Records choice `index`'s next token: text through the detokenizer and stop checker,
  // logprobs if asked. Returns the finish reason when the choice ends with this token.
  std::optional<FinishReason> accept(int index, const SampleResult& sample);
  // Ends a choice that has not finished (abort, error), releasing held-back text.
  void end_choice(int index, FinishReason reason, const std::string& error = {});
  bool all_finished() const;

  // Adds what this step gathered, if anything, for the stream to `out`. Returns true when
  // that was the request's last output (finished).
  bool deliver(std::vector<PendingOutput>& out);

 private:
  ChoiceDelta& delta(int index);

  GenerationRequest request_;
  std::shared_ptr<QueuedRequestStream> stream_;
  std::vector<std::unique_ptr<ChoiceState>> choices_;
  bool forked_;
  RequestOutput output_;  // counters persist across steps; deltas are per step
  bool finished_sent_ = false;
};

}  // namespace strata
