#include "sampling/logits_processors.h"

namespace strata {

namespace {
bool in_vocab(std::span<float> logits, int32_t token) {
  return token >= 0 && static_cast<size_t>(token) < logits.size();
}
}  // namespace

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> seen, float penalty) {
  if (penalty == 1.0f) return;
  for (int32_t token : seen) {
    if (!in_vocab(logits, token)) continue;
    float& l = logits[static_cast<size_t>(token)];
    l = l > 0.0f ? l / penalty : l * penalty;
  }
}

void apply_frequency_presence(std::span<float> logits,
                              const std::unordered_map<int32_t, int>& output_counts,
                              float frequency_penalty, float presence_penalty) {
  if (frequency_penalty == 0.0f && presence_penalty == 0.0f) return;
  for (const auto& [token, count] : output_counts) {
    if (!in_vocab(logits, token) || count <= 0) continue;
    logits[static_cast<size_t>(token)] -= static_cast<float>(count) * frequency_penalty + presence_penalty;
  }
}

void apply_logit_bias(std::span<float> logits, const std::map<int32_t, float>& bias) {
  for (const auto& [token, value] : bias)
    if (in_vocab(logits, token)) logits[static_cast<size_t>(token)] += value;
}

}  // namespace strata
