#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "model/gguf.h"
#include "tokenizer/utf8.h"

namespace strata {

namespace {

bool has_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) {
    const fs::path json = fs::path(path) / "tokenizer.json";
    if (!fs::exists(json)) throw InvalidArgument("model", path + ": directory has no tokenizer.json");
    return from_tokenizer_json(json.string());
  }
  if (!fs::exists(path)) throw InvalidArgument("model", path + ": no such file");
  if (has_gguf_magic(path)) return from_gguf(*GGUFFile::open(path));
  return from_tokenizer_json(path);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  return utf8::sanitize(decode_bytes(ids, skip_special));
}

std::string Tokenizer::bos_text() const { return special_.bos ? token_text(*special_.bos) : std::string(); }
std::string Tokenizer::eos_text() const { return special_.eos ? token_text(*special_.eos) : std::string(); }

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(tokenizer), skip_special_(skip_special) {}

std::string IncrementalDetokenizer::push(int32_t id) {
  if (skip_special_ && tokenizer_.is_special(id)) return {};
  // Decoders treat the first token apart (SentencePiece strips its leading space), so a
  // later token is decoded after its predecessor and only the difference is taken.
  std::string piece;
  if (!previous_id_ || tokenizer_.decodes_per_token()) {
    const int32_t ids[] = {id};
    piece = tokenizer_.decode_bytes(ids, skip_special_);
  } else {
    const int32_t pair[] = {*previous_id_, id};
    const std::string both = tokenizer_.decode_bytes(pair, skip_special_);
    const std::string before = tokenizer_.decode_bytes(std::span(pair, 1), skip_special_);
    if (both.compare(0, before.size(), before) == 0) piece = both.substr(before.size());
    else piece = tokenizer_.decode_bytes(std::span(pair + 1, 1), skip_special_);
  }
  previous_id_ = id;
  pending_ += piece;

  // Emit everything up to an incomplete trailing character; invalid bytes become U+FFFD.
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    bool needed_more = false;
    const size_t len = utf8::valid_sequence_length(pending_, pos, &needed_more);
    if (len > 0) {
      out.append(pending_, pos, len);
      pos += len;
    } else if (needed_more) {
      break;
    } else {
      utf8::append(out, utf8::next_codepoint(pending_, pos));
    }
  }
  pending_.erase(0, pos);
  return out;
}

std::string IncrementalDetokenizer::flush() {
  std::string out = utf8::sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace strata
