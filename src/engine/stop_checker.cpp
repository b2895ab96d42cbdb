#include "engine/stop_checker.h"

#include <algorithm>

namespace strata {

StopChecker::StopChecker(StopConditions conditions, std::vector<int32_t> end_of_generation)
    : conditions_(std::move(conditions)), end_of_generation_(std::move(end_of_generation)) {
  // Empty stop strings would match everywhere; the edge rejects them, here they are inert.
  auto& strings = conditions_.stop_strings;
  strings.erase(std::remove(strings.begin(), strings.end(), std::string()), strings.end());
  for (const auto& s : strings) max_stop_length_ = std::max(max_stop_length_, s.size());
}

bool StopChecker::is_stop_token(int32_t token) const {
  const auto& ids = conditions_.stop_token_ids;
  if (std::find(ids.begin(), ids.end(), token) != ids.end()) return true;
  if (conditions_.ignore_eos) return false;
  return std::find(end_of_generation_.begin(), end_of_generation_.end(), token) != end_of_generation_.end();
}

std::optional<std::pair<size_t, size_t>> StopChecker::find_stop_string(size_t from) const {
  std::optional<std::pair<size_t, size_t>> best;
  for (size_t i = 0; i < conditions_.stop_strings.size(); ++i) {
    const size_t pos = held_.find(conditions_.stop_strings[i], from);
    if (pos != std::string::npos && (!best || pos < best->first)) best = {{pos, i}};
  }
  return best;
}

size_t StopChecker::partial_match_length() const {
  const size_t longest = std::min(held_.size(), max_stop_length_ > 0 ? max_stop_length_ - 1 : 0);
  for (size_t len = longest; len > 0; --len) {
    const std::string_view suffix = std::string_view(held_).substr(held_.size() - len);
    for (const auto& s : conditions_.stop_strings)
      if (s.size() > len && std::string_view(s).substr(0, len) == suffix) return len;
  }
  return 0;
}

StopDecision StopChecker::append(int32_t token, std::string_view text_piece) {
  StopDecision decision;
  if (finished_) return decision;
  ++num_generated_;
  const bool may_stop = num_generated_ > conditions_.min_tokens;
  if (may_stop && is_stop_token(token)) {
    // The stop token's own text is not part of the output; held text is released.
    decision.text = flush();
    decision.finish = FinishReason::Stop;
    finished_ = true;
    return decision;
  }
  // A stop string can only start in the text not yet released, which is all of held_.
  held_.append(text_piece);
  if (may_stop) {
    if (auto match = find_stop_string(0)) {
      const auto& stop = conditions_.stop_strings[match->second];
      const size_t end = match->first + (conditions_.include_stop_string_in_output ? stop.size() : 0);
      decision.text = held_.substr(0, end);
      decision.finish = FinishReason::Stop;
      decision.matched_stop = stop;
      held_.clear();
      finished_ = true;
      return decision;
    }
  }
  if (num_generated_ >= conditions_.max_tokens) {
    decision.text = flush();
    decision.finish = FinishReason::Length;
    finished_ = true;
    return decision;
  }
  // Before min_tokens nothing can stop, so nothing needs holding back.
  const size_t keep = may_stop ? partial_match_length() : 0;
  decision.text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return decision;
}

std::string StopChecker::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace strata
