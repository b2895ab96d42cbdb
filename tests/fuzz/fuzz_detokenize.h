#pragma once
// The decode checks the tokenizer fuzz targets share: decoding any ids must not crash, and
// streaming detokenization must only ever emit whole UTF-8 characters.
#include <cstdlib>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace strata::fuzz {

inline void decode_and_stream(const Tokenizer& t, const std::vector<int32_t>& ids, bool skip_special) {
  (void)t.decode(ids, skip_special);
  IncrementalDetokenizer detokenizer(t, skip_special);
  std::string streamed;
  for (int32_t id : ids) streamed += detokenizer.push(id);
  streamed += detokenizer.flush();
  if (!utf8::is_valid(streamed)) std::abort();  // pieces must be whole UTF-8 characters
}

}  // namespace strata::fuzz
