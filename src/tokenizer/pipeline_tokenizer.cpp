#include "tokenizer/pipeline_tokenizer.h"

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace strata {

namespace {

std::vector<AddedToken> select_added(const std::vector<AddedToken>& tokens, bool normalized,
                                     const Normalizer* normalizer) {
  std::vector<AddedToken> selected;
  for (const auto& t : tokens) {
    if (t.normalized != normalized) continue;
    selected.push_back(t);
    if (normalized && normalizer) normalizer->normalize(selected.back().content);
  }
  return selected;
}

}  // namespace

PipelineTokenizer::PipelineTokenizer(TokenizerParts parts)
    : parts_(std::move(parts)),
      raw_added_(select_added(parts_.added_tokens, false, nullptr)),
      normalized_added_(select_added(parts_.added_tokens, true, parts_.normalizer.get())) {
  if (!parts_.model || !parts_.model_vocab) throw Error("tokenizer: no model");
  special_ = parts_.special;
  chat_template_ = parts_.chat_template;
  int32_t size = parts_.model_vocab->size();
  for (const auto& t : parts_.added_tokens) size = std::max(size, t.id + 1);
  texts_.resize(static_cast<size_t>(size));
  for (const auto* ids : {&parts_.prefix_ids, &parts_.suffix_ids})
    for (int32_t id : *ids)
      if (id < 0 || id >= size)
        throw Error("tokenizer: the post-processor adds token id " + std::to_string(id) +
                    ", outside the vocabulary of " + std::to_string(size));
  special_ids_.assign(static_cast<size_t>(size), false);
  for (int32_t id = 0; id < parts_.model_vocab->size(); ++id) {
    texts_[id] = parts_.model_vocab->text(id);
    if (static_cast<size_t>(id) < parts_.control.size() && parts_.control[id]) special_ids_[id] = true;
  }
  for (const auto& t : parts_.added_tokens) {
    if (t.id < 0) continue;
    texts_[t.id] = t.content;
    if (t.special) special_ids_[t.id] = true;
  }
}

void PipelineTokenizer::encode_segment(std::string_view text, bool at_text_start, bool parse_special,
                                       std::vector<int32_t>& out) const {
  std::string normalized(text);
  if (parts_.normalizer) parts_.normalizer->normalize(normalized);
  for (const auto& piece : normalized_added_.split(normalized, parse_special)) {
    if (piece.id >= 0) out.push_back(piece.id);
    else encode_words(std::string(piece.text), at_text_start, out);
    at_text_start = false;
  }
}

void PipelineTokenizer::encode_words(std::string text, bool at_text_start, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::vector<std::string> words;
  words.push_back(std::move(text));
  if (parts_.pre_tokenizer) parts_.pre_tokenizer->pre_tokenize(words, at_text_start);
  for (const auto& w : words) parts_.model->tokenize(w, out);
}

std::vector<int32_t> PipelineTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  // Invalid UTF-8 cannot reach a Hugging Face tokenizer from Python: it would have been
  // decoded with errors="replace" first, which is what sanitize() reproduces.
  const std::string clean = utf8::sanitize(text);
  std::vector<int32_t> ids;
  ids.reserve(clean.size() / 3 + 4);
  if (add_special) ids.insert(ids.end(), parts_.prefix_ids.begin(), parts_.prefix_ids.end());
  bool at_text_start = true;
  for (const auto& segment : raw_added_.split(clean, parse_special)) {
    if (segment.id >= 0) ids.push_back(segment.id);
    else encode_segment(segment.text, at_text_start, parse_special, ids);
    at_text_start = false;
  }
  if (add_special) ids.insert(ids.end(), parts_.suffix_ids.begin(), parts_.suffix_ids.end());
  return ids;
}

std::string PipelineTokenizer::decode_bytes(std::span<const int32_t> ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;  // unknown ids decode to nothing, as in HF
    if (skip_special && special_ids_[id]) continue;
    tokens.push_back(texts_[id]);
  }
  if (parts_.decoder) parts_.decoder->decode(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::string PipelineTokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= vocab_size()) throw InvalidArgument("token", "token id " + std::to_string(id) + " out of range");
  return texts_[id];
}

bool PipelineTokenizer::is_special(int32_t id) const { return id >= 0 && id < vocab_size() && special_ids_[id]; }

std::optional<int32_t> PipelineTokenizer::token_id(std::string_view text) const {
  for (const auto& t : parts_.added_tokens)
    if (t.content == text) return t.id;
  return parts_.model_vocab->find(text);
}

}  // namespace strata
