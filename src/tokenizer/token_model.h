#pragma once
// The model step of a tokenizer pipeline: turns one pre-tokenized word into ids.
#include <cstdint>
#include <string_view>
#include <vector>

namespace strata {

class TokenModel {
 public:
  virtual ~TokenModel() = default;
  virtual void tokenize(std::string_view word, std::vector<int32_t>& out) const = 0;
};

}  // namespace strata
