#include "sampling/row_sampling.h"

#include <string>

#include "core/error.h"
#include "sampling/logits_processors.h"

namespace strata {

void SamplingRows::clear() {
  rows.clear();
  seen.clear();
  count_tokens.clear();
  counts.clear();
  bias_tokens.clear();
  bias.clear();
}

void SamplingRows::add_greedy_row() { rows.emplace_back(); }

namespace {
template <typename T>
std::span<const T> range(const std::vector<T>& list, int32_t begin, int32_t end) {
  return std::span<const T>(list).subspan(static_cast<size_t>(begin), static_cast<size_t>(end - begin));
}
}  // namespace

int32_t sample_row(std::span<float> logits, const SamplingRows& rows, size_t row, SampleRowScratch& scratch) {
  const RowSampling& r = rows.rows.at(row);
  apply_repetition_penalty(logits, range(rows.seen, r.seen_begin, r.seen_end), r.repetition_penalty);
  apply_frequency_presence(logits, range(rows.count_tokens, r.counts_begin, r.counts_end),
                           range(rows.counts, r.counts_begin, r.counts_end), r.frequency_penalty,
                           r.presence_penalty);
  apply_logit_bias(logits, range(rows.bias_tokens, r.bias_begin, r.bias_end), range(rows.bias, r.bias_begin, r.bias_end));
  if (r.temperature <= 0.0f) return argmax(logits);
  // One draw per step, whatever the candidates: the stream of draws depends only on the seed.
  truncate_candidates(logits, TruncationParams{r.temperature, r.top_k, r.top_p, r.min_p}, scratch.candidates,
                      scratch.weights);
  return scratch.candidates[draw_index(scratch.weights, r.u)].token;
}

int32_t sample_row(std::span<float> logits, const SamplingRows& rows, size_t row) {
  SampleRowScratch scratch;
  return sample_row(logits, rows, row, scratch);
}

void check_host_sampling(const Tensor& ids, const Tensor& logits, const SamplingRows& sampling) {
  const auto rows = static_cast<int64_t>(sampling.rows.size());
  if (logits.ndim() != 2 || logits.dtype() != DType::F32 || logits.size(0) != rows || ids.dtype() != DType::I32 ||
      ids.ndim() != 1 || ids.size(0) != rows || !logits.is_contiguous() || !ids.is_contiguous() ||
      logits.device() != Device::CPU || ids.device() != Device::CPU)
    throw Error("sample_rows: ids " + ids.describe() + " and logits " + logits.describe() + " for " +
                std::to_string(rows) + " rows");
}

void sample_host_rows_strided(Tensor& ids, Tensor& logits, const SamplingRows& sampling, int64_t first, int64_t step,
                              SampleRowScratch& scratch) {
  const int64_t rows = logits.size(0), vocab = logits.size(1);
  for (int64_t r = first; r < rows; r += step)
    ids.data<int32_t>()[r] = sample_row(std::span(logits.data<float>() + r * vocab, static_cast<size_t>(vocab)),
                                        sampling, static_cast<size_t>(r), scratch);
}

void sample_host_rows(Tensor& ids, Tensor& logits, const SamplingRows& sampling) {
  check_host_sampling(ids, logits, sampling);
  SampleRowScratch scratch;
  sample_host_rows_strided(ids, logits, sampling, 0, 1, scratch);
}

}  // namespace strata
