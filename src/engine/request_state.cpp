#include "engine/request_state.h"

#include <algorithm>

namespace strata {

ChoiceState::ChoiceState(const GenerationRequest& request, int index_, uint64_t seed,
                         const Tokenizer& tokenizer)
    : index(index_),
      sampler(request.sampling, seed, request.prompt_tokens),
      detokenizer(tokenizer, /*skip_special=*/true),
      stop(request.stop, tokenizer.special().end_of_generation) {}

ActiveRequest::ActiveRequest(GenerationRequest request, std::shared_ptr<QueuedRequestStream> stream,
                             const Tokenizer& tokenizer, uint64_t seed)
    : request_(std::move(request)), stream_(std::move(stream)), forked_(request_.n == 1) {
  for (int i = 0; i < request_.n; ++i)
    choices_.push_back(std::make_unique<ChoiceState>(request_, i, seed + static_cast<uint64_t>(i), tokenizer));
  output_.prompt_tokens = static_cast<int>(request_.prompt_tokens.size());
}

ChoiceDelta& ActiveRequest::delta(int index) {
  for (auto& d : output_.deltas)
    if (d.index == index) return d;
  output_.deltas.emplace_back();
  output_.deltas.back().index = index;
  return output_.deltas.back();
}

std::optional<FinishReason> ActiveRequest::accept(int index, const SampleResult& sample) {
  ChoiceState& c = choice(index);
  ChoiceDelta& d = delta(index);
  ++output_.completion_tokens;
  d.token_ids.push_back(sample.token);
  const bool wants_logprobs = request_.sampling.logprobs || request_.sampling.top_logprobs > 0;
  const std::string piece = c.detokenizer.push(sample.token);
  if (wants_logprobs)
    d.logprobs.push_back(TokenLogprob{sample.token, sample.logprob, sample.top_logprobs, piece});
  StopDecision decision = c.stop.append(sample.token, piece);
  d.text += decision.text;
  if (!decision.finish) return std::nullopt;
  // Bytes of an unfinished character are part of the output when it ends by length.
  if (*decision.finish == FinishReason::Length) {
    const std::string rest = c.detokenizer.flush();
    d.text += rest;
    if (wants_logprobs) d.logprobs.back().text += rest;
  }
  d.finish = decision.finish;
  d.matched_stop = decision.matched_stop;
  c.finished = true;
  return decision.finish;
}

void ActiveRequest::end_choice(int index, FinishReason reason, const std::string& error) {
  ChoiceState& c = choice(index);
  if (c.finished) return;
  ChoiceDelta& d = delta(index);
  if (reason != FinishReason::Error) d.text += c.stop.flush();
  d.finish = reason;
  d.error = error;
  c.finished = true;
}

bool ActiveRequest::all_finished() const {
  return std::all_of(choices_.begin(), choices_.end(), [](const auto& c) { return c->finished; });
}

bool ActiveRequest::deliver(std::vector<PendingOutput>& pending) {
  if (finished_sent_) return true;
  const bool finished = all_finished();
  if (output_.deltas.empty() && !finished) return false;
  RequestOutput out = output_;
  out.finished = finished;
  std::sort(out.deltas.begin(), out.deltas.end(),
            [](const ChoiceDelta& a, const ChoiceDelta& b) { return a.index < b.index; });
  output_.deltas.clear();
  pending.push_back(PendingOutput{stream_, std::move(out)});
  finished_sent_ = finished;
  return finished;
}

}  // namespace strata
