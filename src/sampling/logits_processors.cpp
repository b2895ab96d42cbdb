#include "sampling/logits_processors.h"

namespace strata {

namespace {
bool in_vocab(std::span<float> logits, int32_t token) {
  return token >= 0 && static_cast<size_t>(token) < logits.size();
}

void penalize_count(std::span<float> logits, int32_t token, int count, float frequency_penalty,
                    float presence_penalty) {
  if (!in_vocab(logits, token) || count <= 0) return;
  logits[static_cast<size_t>(token)] -= static_cast<float>(count) * frequency_penalty + presence_penalty;
}

void add_bias(std::span<float> logits, int32_t token, float value) {
  if (in_vocab(logits, token)) logits[static_cast<size_t>(token)] += value;
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
  for (const auto& [token, count] : output_counts) penalize_count(logits, token, count, frequency_penalty, presence_penalty);
}

void apply_frequency_presence(std::span<float> logits, std::span<const int32_t> tokens,
                              std::span<const int32_t> counts, float frequency_penalty, float presence_penalty) {
  if (frequency_penalty == 0.0f && presence_penalty == 0.0f) return;
  for (size_t i = 0; i < tokens.size() && i < counts.size(); ++i)
    penalize_count(logits, tokens[i], counts[i], frequency_penalty, presence_penalty);
}

void apply_logit_bias(std::span<float> logits, const std::map<int32_t, float>& bias) {
  for (const auto& [token, value] : bias) add_bias(logits, token, value);
}

void apply_logit_bias(std::span<float> logits, std::span<const int32_t> tokens, std::span<const float> bias) {
  for (size_t i = 0; i < tokens.size() && i < bias.size(); ++i) add_bias(logits, tokens[i], bias[i]);
}

}  // namespace strata
