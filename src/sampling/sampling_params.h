#pragma once
// What a request asks of sampling and stopping. Validated at the edge (CLI, server);
// the engine assumes valid values.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace strata {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  int top_k = -1;            // -1 or 0: off
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;  // > 1 discourages tokens already in prompt or output
  float frequency_penalty = 0.0f;   // OpenAI: minus count * penalty, over the output
  float presence_penalty = 0.0f;    // OpenAI: minus penalty if present in the output
  std::map<int32_t, float> logit_bias;
  std::optional<uint64_t> seed;     // same seed, same output
  int top_logprobs = 0;             // how many alternatives to report (0: none)
  bool logprobs = false;            // report the chosen token's logprob
};

struct StopConditions {
  int max_tokens = 256;
  int min_tokens = 0;               // stop tokens and strings are ignored before this
  std::vector<std::string> stop_strings;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  bool include_stop_string_in_output = false;
};

}  // namespace strata
