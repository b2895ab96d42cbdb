#include "tokenizer/wordpiece_model.h"

#include "tokenizer/utf8.h"

namespace strata {

WordPieceModel::WordPieceModel(std::shared_ptr<const Vocabulary> vocab, int32_t unk, std::string prefix,
                               size_t max_input_chars_per_word)
    : vocab_(std::move(vocab)), unk_(unk), prefix_(std::move(prefix)), max_chars_(max_input_chars_per_word) {}

void WordPieceModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  const auto chars = utf8::split_chars(word);
  if (chars.size() > max_chars_) {
    out.push_back(unk_);
    return;
  }
  std::vector<int32_t> pieces;
  std::string candidate;
  for (size_t start = 0; start < chars.size();) {
    size_t end = chars.size();
    std::optional<int32_t> found;
    for (; end > start; --end) {
      const size_t begin_byte = chars[start].data() - word.data();
      const size_t end_byte = chars[end - 1].data() + chars[end - 1].size() - word.data();
      candidate = start > 0 ? prefix_ : std::string();
      candidate += word.substr(begin_byte, end_byte - begin_byte);
      if ((found = vocab_->find(candidate))) break;
    }
    if (!found) {
      out.push_back(unk_);
      return;
    }
    pieces.push_back(*found);
    start = end;
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

}  // namespace strata
