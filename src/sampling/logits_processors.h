#pragma once
// Small, independent logits processors. Each modifies logits [vocab] in place and is
// tested on its own against a plain reference.
#include <cstdint>
#include <map>
#include <span>
#include <unordered_map>

namespace strata {

// Hugging Face / vLLM repetition penalty: every token seen in the prompt or the output
// has its logit divided by `penalty` when positive and multiplied when negative.
// `seen` holds each such token once.
void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> seen, float penalty);

// OpenAI frequency and presence penalties over the generated tokens:
// logit -= count * frequency + (count > 0) * presence.
void apply_frequency_presence(std::span<float> logits,
                              const std::unordered_map<int32_t, int>& output_counts,
                              float frequency_penalty, float presence_penalty);

// The same from parallel lists: tokens[i] was generated counts[i] times (each token once).
void apply_frequency_presence(std::span<float> logits, std::span<const int32_t> tokens,
                              std::span<const int32_t> counts, float frequency_penalty, float presence_penalty);

// Adds bias[token] to the token's logit (ids outside the vocabulary are ignored; the edge
// validates them).
void apply_logit_bias(std::span<float> logits, const std::map<int32_t, float>& bias);
// The same from parallel lists (each token once).
void apply_logit_bias(std::span<float> logits, std::span<const int32_t> tokens, std::span<const float> bias);

}  // namespace strata
