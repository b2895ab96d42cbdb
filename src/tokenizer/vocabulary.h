#pragma once
// The id <-> token text table of a tokenizer, with per-token flags.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace strata {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Vocabulary {
 public:
  // Sets entry `id` (growing the table); a later entry with the same text does not
  // replace the earlier id in the text -> id direction.
  void set(int32_t id, std::string text);
  std::optional<int32_t> find(std::string_view text) const;
  const std::string& text(int32_t id) const { return texts_.at(static_cast<size_t>(id)); }
  int32_t size() const { return static_cast<int32_t>(texts_.size()); }
  bool contains(int32_t id) const { return id >= 0 && id < size(); }

 private:
  std::vector<std::string> texts_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ids_;
};

}  // namespace strata
