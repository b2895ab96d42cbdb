#pragma once
// Sampling described as data, so that a backend can run it where the logits are (a GPU
// then sends back token ids only): each row's processors, truncation and uniform draw, as
// SequenceSampler::sample applies them. sample_row() is the reference every backend's
// sample_rows must agree with.
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "sampling/truncation.h"

namespace strata {

struct RowSampling {
  float temperature = 0.0f;  // <= 0: greedy (the argmax after the processors)
  int32_t top_k = -1;        // <= 0 or >= vocab: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
  float repetition_penalty = 1.0f, frequency_penalty = 0.0f, presence_penalty = 0.0f;
  double u = 0.0;  // the row's uniform draw in [0, 1), read when temperature > 0
  // [begin, end) ranges of the lists in SamplingRows.
  int32_t seen_begin = 0, seen_end = 0;      // prompt and output tokens, each once (repetition)
  int32_t counts_begin = 0, counts_end = 0;  // output tokens and their counts (frequency, presence)
  int32_t bias_begin = 0, bias_end = 0;      // logit bias
};

struct SamplingRows {
  std::vector<RowSampling> rows;  // one per logits row, in order
  std::vector<int32_t> seen;
  std::vector<int32_t> count_tokens, counts;
  std::vector<int32_t> bias_tokens;
  std::vector<float> bias;

  bool empty() const { return rows.empty(); }
  void clear();
  // A row that takes the argmax of its raw logits (greedy, no processors).
  void add_greedy_row();
};

// Working memory of sample_row, kept by callers that sample every step (a vocab's worth).
struct SampleRowScratch {
  std::vector<Candidate> candidates;
  std::vector<double> weights;
};

// The token row `row` samples from its logits [vocab] (modified in place by the processors).
int32_t sample_row(std::span<float> logits, const SamplingRows& rows, size_t row, SampleRowScratch& scratch);
int32_t sample_row(std::span<float> logits, const SamplingRows& rows, size_t row);

// sample_row for every row of host f32 logits [rows, vocab] into host i32 ids [rows].
void sample_host_rows(Tensor& ids, Tensor& logits, const SamplingRows& sampling);
// Throws Error unless ids [rows] (i32) and logits [rows, vocab] (f32) are dense host tensors
// with one row per sampling row.
void check_host_sampling(const Tensor& ids, const Tensor& logits, const SamplingRows& sampling);
// sample_row for rows first, first + step, ... below the row count (checked tensors): a
// worker's share when rows are sampled in parallel.
void sample_host_rows_strided(Tensor& ids, Tensor& logits, const SamplingRows& sampling, int64_t first, int64_t step,
                              SampleRowScratch& scratch);

}  // namespace strata
