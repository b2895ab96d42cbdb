#pragma once
// The engine's public request/response types: what the server and CLI submit and what
// they receive back, per choice, as a stream of deltas.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sampling/sampling_params.h"

namespace strata {

struct GenerationRequest {
  std::string request_id;           // unique; chosen by the caller
  std::vector<int32_t> prompt_tokens;
  SamplingParams sampling;
  StopConditions stop;
  int n = 1;                        // parallel samples sharing the prompt's KV blocks
  int priority = 0;                 // lower value = more important (as vLLM)
  std::chrono::steady_clock::time_point arrival = std::chrono::steady_clock::now();
};

enum class FinishReason : uint8_t { Stop, Length, Abort, Error };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "abort", "error"

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // top alternatives, most likely first
  // The text this token completes, as the choice's text has it: empty for a special token
  // or one that ends partway through a character (the token completing it carries it).
  std::string text;
};

// One increment of one choice's output. Text deltas never split a UTF-8 character.
struct ChoiceDelta {
  int index = 0;                        // which of the n choices
  std::vector<int32_t> token_ids;       // new tokens
  std::string text;                     // new text
  std::vector<TokenLogprob> logprobs;   // one per new token when requested
  std::optional<FinishReason> finish;   // set on the choice's last delta
  std::string matched_stop;             // the stop string that ended it, if any
  std::string error;                    // set with FinishReason::Error
};

struct RequestOutput {
  std::vector<ChoiceDelta> deltas;
  int prompt_tokens = 0;
  int cached_prompt_tokens = 0;   // served from the prefix cache
  int completion_tokens = 0;      // all choices so far
  bool finished = false;          // every choice finished; the stream ends
};

}  // namespace strata
