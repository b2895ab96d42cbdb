#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sampling/rng.h"

namespace strata {

SequenceSampler::SequenceSampler(const SamplingParams& params, uint64_t seed,
                                 std::span<const int32_t> prompt)
    : params_(params), rng_state_(seed), prompt_(prompt.begin(), prompt.end()) {
  for (int32_t t : prompt_) mark_seen(t);
}

// What the penalties read is kept only for the penalties a request sets (a hash insert per
// token otherwise, for every sequence of every step).
void SequenceSampler::mark_seen(int32_t token) {
  if (params_.repetition_penalty == 1.0f) return;
  if (seen_set_.insert(token).second) seen_.push_back(token);
}

void SequenceSampler::accept(int32_t token) {
  output_.push_back(token);
  if (params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f) ++output_counts_[token];
  mark_seen(token);
}

// log_softmax of the raw logits: the chosen token's logprob and the top alternatives.
void SequenceSampler::fill_logprobs(std::span<const float> raw, SampleResult& result) const {
  float max_logit = -INFINITY;
  for (float l : raw) max_logit = std::max(max_logit, l);
  double sum = 0.0;
  for (float l : raw) sum += std::exp(static_cast<double>(l - max_logit));
  const double log_z = static_cast<double>(max_logit) + std::log(sum);
  result.logprob = static_cast<float>(raw[static_cast<size_t>(result.token)] - log_z);
  const size_t n = std::min(static_cast<size_t>(std::max(params_.top_logprobs, 0)), raw.size());
  if (n == 0) return;
  std::vector<int32_t> ids(raw.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(),
                    [&](int32_t a, int32_t b) {
                      const float la = raw[static_cast<size_t>(a)], lb = raw[static_cast<size_t>(b)];
                      return la > lb || (la == lb && a < b);
                    });
  result.top_logprobs.clear();
  for (size_t i = 0; i < n; ++i)
    result.top_logprobs.emplace_back(ids[i], static_cast<float>(raw[static_cast<size_t>(ids[i])] - log_z));
}

bool SequenceSampler::reads_logits() const {
  const SamplingParams& p = params_;
  return p.temperature > 0.0f || p.logprobs || p.top_logprobs > 0 || p.repetition_penalty != 1.0f ||
         p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f || !p.logit_bias.empty();
}

SampleResult SequenceSampler::sample_greedy(int32_t argmax) const {
  SampleResult result;
  result.token = argmax;
  return result;
}

bool SequenceSampler::samples_anywhere() const { return !params_.logprobs && params_.top_logprobs <= 0; }

void SequenceSampler::describe_next(SamplingRows& rows) {
  const SamplingParams& p = params_;
  RowSampling r;
  r.temperature = p.temperature;
  r.top_k = p.top_k;
  r.top_p = p.top_p;
  r.min_p = p.min_p;
  r.repetition_penalty = p.repetition_penalty;
  r.frequency_penalty = p.frequency_penalty;
  r.presence_penalty = p.presence_penalty;
  // One draw per step when sampling, whatever the candidates: the stream of draws depends
  // only on the seed.
  if (p.temperature > 0.0f) r.u = uniform01(rng_state_);
  const auto at = [](const auto& list) { return static_cast<int32_t>(list.size()); };
  r.seen_begin = at(rows.seen);
  if (p.repetition_penalty != 1.0f) rows.seen.insert(rows.seen.end(), seen_.begin(), seen_.end());
  r.seen_end = at(rows.seen);
  r.counts_begin = at(rows.count_tokens);
  if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f)
    for (const auto& [token, count] : output_counts_) rows.count_tokens.push_back(token), rows.counts.push_back(count);
  r.counts_end = at(rows.count_tokens);
  r.bias_begin = at(rows.bias_tokens);
  for (const auto& [token, value] : p.logit_bias) rows.bias_tokens.push_back(token), rows.bias.push_back(value);
  r.bias_end = at(rows.bias_tokens);
  rows.rows.push_back(r);
}

SampleResult SequenceSampler::sample(std::span<float> logits) {
  SampleResult result;
  const bool want_logprobs = params_.logprobs || params_.top_logprobs > 0;
  std::vector<float> raw;
  if (want_logprobs) raw.assign(logits.begin(), logits.end());
  row_.clear();
  describe_next(row_);
  result.token = sample_row(logits, row_, 0, scratch_);
  if (want_logprobs) fill_logprobs(raw, result);
  return result;
}

}  // namespace strata
