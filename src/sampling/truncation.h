#pragma once
// Turns processed logits into the candidate set that random sampling draws from:
// temperature, then top-k, top-p (nucleus) and min-p, as Hugging Face applies them.
// Works on a vocab of 150k per step without a full sort: top-k uses nth_element, and
// top-p without top-k sorts a growing prefix until it holds the nucleus.
#include <cstdint>
#include <span>
#include <vector>

namespace strata {

struct Candidate {
  int32_t token;
  float logit;  // already divided by the temperature
};

struct TruncationParams {
  float temperature = 1.0f;  // > 0
  int top_k = -1;            // <= 0: off
  float top_p = 1.0f;
  float min_p = 0.0f;
};

// The candidates allowed by the parameters, with unnormalised weights exp(logit - max)
// in `weights` (same order). At least one candidate (the most likely) always remains.
void truncate_candidates(std::span<const float> logits, const TruncationParams& params,
                         std::vector<Candidate>& candidates, std::vector<double>& weights);

// Index into `weights` drawn with probability weight / sum, from u in [0, 1).
size_t draw_index(std::span<const double> weights, double u);

// Index of the largest logit (the lowest index among ties).
int32_t argmax(std::span<const float> logits);

}  // namespace strata
