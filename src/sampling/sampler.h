#pragma once
// Per-sequence sampling: a chain of small logits processors (penalties, bias, masks),
// then greedy or random choice with temperature, top-k, top-p and min-p, from the
// sequence's own seeded generator (same seed, same tokens, whatever the batch).
#include <cstdint>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sampling/row_sampling.h"
#include "sampling/sampling_params.h"

namespace strata {

struct SampleResult {
  int32_t token = 0;
  float logprob = 0.0f;  // of the chosen token, under the model's distribution (before sampling transforms)
  std::vector<std::pair<int32_t, float>> top_logprobs;  // requested alternatives
};

class SequenceSampler {
 public:
  // seed: the request's seed (or a random one when unset); prompt feeds the repetition penalty.
  SequenceSampler(const SamplingParams& params, uint64_t seed, std::span<const int32_t> prompt);
  // Chooses the next token from logits [vocab] (modified in place).
  SampleResult sample(std::span<float> logits);
  // Whether sample() needs the logits, or only their argmax: false for greedy sampling with
  // no penalty, bias or logprobs, whose choice is the argmax of the raw logits.
  bool reads_logits() const;
  // The choice sample() makes when !reads_logits(), from the logits' argmax.
  SampleResult sample_greedy(int32_t argmax) const;
  // Whether sample() can run where the logits are (sample_row on a backend): nothing to
  // report but the token (no logprobs).
  bool samples_anywhere() const;
  // Appends the next sample() to `rows` as data, drawing its uniform now (as sample() would);
  // the token sampled from it is then taken with sampled_elsewhere().
  void describe_next(SamplingRows& rows);
  SampleResult sampled_elsewhere(int32_t token) const { return sample_greedy(token); }
  // Records a generated token (penalties count it).
  void accept(int32_t token);

 private:
  SamplingParams params_;
  uint64_t rng_state_;
  std::vector<int32_t> prompt_;
  std::vector<int32_t> output_;
  // Tokens of prompt + output, each once (repetition penalty), and output counts.
  std::unordered_set<int32_t> seen_set_;
  std::vector<int32_t> seen_;
  std::unordered_map<int32_t, int> output_counts_;
  // Scratch re-used across steps.
  SamplingRows row_;
  SampleRowScratch scratch_;

  void mark_seen(int32_t token);
  void fill_logprobs(std::span<const float> raw_logits, SampleResult& result) const;
};

}  // namespace strata
