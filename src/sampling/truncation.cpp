#include "sampling/truncation.h"

#include <algorithm>
#include <cmath>

namespace strata {

namespace {

bool more_likely(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.token < b.token);
}

void fill_all(std::span<const float> logits, float temperature, std::vector<Candidate>& out) {
  out.resize(logits.size());
  const float inv_t = 1.0f / temperature;
  for (size_t i = 0; i < logits.size(); ++i) out[i] = {static_cast<int32_t>(i), logits[i] * inv_t};
}

// Sorts a most-likely prefix of the candidates, growing it (64, 256, ...) until it holds
// probability mass >= top_p of the whole distribution, and drops the rest. Each growth
// after the first (a partial sort) partitions the unsorted rest at the new length
// (nth_element, linear; or takes all of it past half the vocabulary) and sorts only the
// new part, adding its mass to the sorted part's: a peaked distribution costs O(vocab), a
// flat one (random-weight models: most of the vocabulary in the nucleus) about one sort of
// its nucleus. (Heap-based partial sorts of the whole prefix at every growth took 46 ms for
// a flat row of 128,256 tokens: bench/bench_sampling.) The order is total (ties by token),
// so any sort gives the same prefix, and the mass adds up in the same order as before.
void sort_nucleus_prefix(std::vector<Candidate>& cands, float max_logit, double total, float top_p) {
  const auto at = [&](size_t i) { return cands.begin() + static_cast<std::ptrdiff_t>(i); };
  size_t sorted = 0, prefix = std::min<size_t>(64, cands.size());
  double mass = 0.0;
  for (;;) {
    if (sorted == 0 && prefix < cands.size()) {
      // The first, short prefix: a heap of 64 rejects most tokens with one comparison.
      std::partial_sort(cands.begin(), at(prefix), cands.end(), more_likely);
    } else {
      // A long one: the rest is partitioned unless the prefix takes most of it anyway.
      if (prefix < cands.size() && 2 * prefix < cands.size())
        std::nth_element(at(sorted), at(prefix), cands.end(), more_likely);
      else
        prefix = cands.size();
      std::sort(at(sorted), at(prefix), more_likely);
    }
    for (size_t i = sorted; i < prefix; ++i) mass += std::exp(static_cast<double>(cands[i].logit - max_logit));
    if (mass >= static_cast<double>(top_p) * total || prefix == cands.size()) break;
    sorted = prefix;
    prefix = std::min(cands.size(), prefix * 4);
  }
  cands.resize(prefix);
}

// Keeps the shortest most-likely prefix whose mass reaches top_p of `total` (at least one).
size_t nucleus_size(const std::vector<double>& weights, double total, float top_p) {
  double cumulative = 0.0;
  for (size_t i = 0; i < weights.size(); ++i) {
    cumulative += weights[i];
    if (cumulative >= static_cast<double>(top_p) * total) return i + 1;
  }
  return weights.size();
}

}  // namespace

void truncate_candidates(std::span<const float> logits, const TruncationParams& params,
                         std::vector<Candidate>& cands, std::vector<double>& weights) {
  fill_all(logits, params.temperature, cands);
  float max_logit = -INFINITY;
  for (const auto& c : cands) max_logit = std::max(max_logit, c.logit);
  const size_t vocab = cands.size();
  const bool use_top_k = params.top_k > 0 && static_cast<size_t>(params.top_k) < vocab;
  const bool use_top_p = params.top_p < 1.0f;
  double total = 0.0;
  if (use_top_k) {
    const auto k = static_cast<std::ptrdiff_t>(params.top_k);
    std::nth_element(cands.begin(), cands.begin() + k - 1, cands.end(), more_likely);
    cands.resize(static_cast<size_t>(k));
    std::sort(cands.begin(), cands.end(), more_likely);
    for (const auto& c : cands) total += std::exp(static_cast<double>(c.logit - max_logit));
  } else if (use_top_p) {
    for (const auto& c : cands) total += std::exp(static_cast<double>(c.logit - max_logit));
    sort_nucleus_prefix(cands, max_logit, total, params.top_p);
  }
  weights.resize(cands.size());
  for (size_t i = 0; i < cands.size(); ++i) weights[i] = std::exp(static_cast<double>(cands[i].logit - max_logit));
  if (use_top_p) {
    if (!use_top_k && total == 0.0) total = 1.0;
    const size_t keep = nucleus_size(weights, total, params.top_p);
    cands.resize(keep);
    weights.resize(keep);
  }
  if (params.min_p > 0.0f) {
    // The most likely token has weight exp(0) = 1, so the threshold is min_p itself.
    size_t kept = 0;
    for (size_t i = 0; i < cands.size(); ++i) {
      if (weights[i] < static_cast<double>(params.min_p)) continue;
      cands[kept] = cands[i];
      weights[kept] = weights[i];
      ++kept;
    }
    cands.resize(kept);
    weights.resize(kept);
  }
}

size_t draw_index(std::span<const double> weights, double u) {
  double total = 0.0;
  for (double w : weights) total += w;
  const double target = u * total;
  double cumulative = 0.0;
  size_t last_nonzero = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0.0) continue;
    cumulative += weights[i];
    last_nonzero = i;
    if (target < cumulative) return i;
  }
  return last_nonzero;  // rounding at the very end of the range
}

int32_t argmax(std::span<const float> logits) {
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

}  // namespace strata
