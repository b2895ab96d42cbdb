#pragma once
// Decides when a sequence stops and which text may be released: stop token ids, eos
// (unless ignore_eos), max_tokens, min_tokens, and stop strings that may span several
// tokens. Text that could still turn out to be the beginning of a stop string is held
// back; no part of a matched stop string is ever released (unless asked to include it).
// Independent of the model: it sees token ids and their decoded text pieces.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/request.h"
#include "sampling/sampling_params.h"

namespace strata {

struct StopDecision {
  std::string text;                    // text released by this token
  std::optional<FinishReason> finish;  // set when the sequence stops with this token
  std::string matched_stop;            // the stop string that ended it, if any
};

class StopChecker {
 public:
  // end_of_generation: the tokenizer's eos / end-of-turn ids (ignored with ignore_eos).
  StopChecker(StopConditions conditions, std::vector<int32_t> end_of_generation);

  // Takes the next generated token and its decoded text piece (possibly empty).
  StopDecision append(int32_t token, std::string_view text_piece);
  // Releases whatever is held back (the sequence ended for another reason, e.g. abort).
  std::string flush();

  int num_generated() const { return num_generated_; }
  bool finished() const { return finished_; }

 private:
  bool is_stop_token(int32_t token) const;
  // Earliest match of any stop string in held_ starting at or after `from`: (pos, index).
  std::optional<std::pair<size_t, size_t>> find_stop_string(size_t from) const;
  // Length of the longest suffix of held_ that is a proper prefix of some stop string.
  size_t partial_match_length() const;

  StopConditions conditions_;
  std::vector<int32_t> end_of_generation_;
  std::string held_;
  size_t max_stop_length_ = 0;
  int num_generated_ = 0;
  bool finished_ = false;
};

}  // namespace strata
