#include "tokenizer/vocabulary.h"

namespace strata {

void Vocabulary::set(int32_t id, std::string text) {
  if (id < 0) return;
  if (static_cast<size_t>(id) >= texts_.size()) texts_.resize(static_cast<size_t>(id) + 1);
  ids_.try_emplace(text, id);
  texts_[static_cast<size_t>(id)] = std::move(text);
}

std::optional<int32_t> Vocabulary::find(std::string_view text) const {
  auto it = ids_.find(text);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

}  // namespace strata
