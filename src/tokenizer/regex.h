#pragma once
// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available) used by the
// pre-tokenizers and normalizers. Patterns written for Oniguruma (what Hugging Face
// tokenizers uses) work unchanged for the constructs tokenizers use; "$" and "^" follow
// Oniguruma's Ruby syntax, i.e. they match at line ends.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata {

class Regex {
 public:
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Byte ranges [begin, end) of all non-overlapping matches, left to right. Empty matches
  // are skipped. Thread-safe.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*, kept opaque so this header needs no PCRE2
};

}  // namespace strata
