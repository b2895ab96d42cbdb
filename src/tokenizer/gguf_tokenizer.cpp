// Tokenizer::from_gguf: assembles the pipeline that a GGUF vocabulary implies, following
// what llama.cpp does for each `tokenizer.ggml.model` (and the Hugging Face tokenizer the
// GGUF was converted from).
#include <algorithm>

#include "core/error.h"
#include "model/gguf.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/gguf_pre_patterns.h"
#include "tokenizer/pipeline_tokenizer.h"
#include "tokenizer/wordpiece_model.h"

namespace strata {

namespace {

// llama.cpp token types.
enum GgufTokenType : int64_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

const std::string kSpmSpace = "\xE2\x96\x81";  // U+2581 "▁"

std::optional<int32_t> optional_id(const GGUFFile& f, std::string_view key) {
  auto v = f.try_int(key);
  if (!v || *v < 0) return std::nullopt;
  return static_cast<int32_t>(*v);
}

void read_special_tokens(const GGUFFile& f, const std::string& model, TokenizerParts& parts) {
  SpecialTokens& s = parts.special;
  s.bos = optional_id(f, "tokenizer.ggml.bos_token_id");
  s.eos = optional_id(f, "tokenizer.ggml.eos_token_id");
  s.unk = optional_id(f, "tokenizer.ggml.unknown_token_id");
  s.pad = optional_id(f, "tokenizer.ggml.padding_token_id");
  for (auto key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (auto id = optional_id(f, key))
      if (std::find(s.end_of_generation.begin(), s.end_of_generation.end(), *id) == s.end_of_generation.end())
        s.end_of_generation.push_back(*id);
  // llama.cpp defaults: SentencePiece and WordPiece models add bos (cls), BPE does not.
  s.add_bos = f.try_bool("tokenizer.ggml.add_bos_token").value_or(model == "llama" || model == "bert");
  s.add_eos = f.try_bool("tokenizer.ggml.add_eos_token").value_or(model == "bert");
  if (model == "bert") {
    s.bos = optional_id(f, "tokenizer.ggml.cls_token_id").value_or(s.bos.value_or(101));
    if (auto sep = optional_id(f, "tokenizer.ggml.seperator_token_id")) s.eos = sep;
  }
  if (s.add_bos && s.bos) parts.prefix_ids.push_back(*s.bos);
  if (s.add_eos && s.eos) parts.suffix_ids.push_back(*s.eos);
  parts.chat_template = f.try_string("tokenizer.chat_template").value_or("");
}

// Control and user-defined tokens are matched in the raw text like HF added tokens.
void collect_added_tokens(const std::vector<int64_t>& types, TokenizerParts& parts) {
  parts.control.assign(types.size(), false);
  for (size_t id = 0; id < types.size(); ++id) {
    const int64_t type = types[id];
    if (type != kControl && type != kUserDefined && type != kUnknown) continue;
    AddedToken t;
    t.id = static_cast<int32_t>(id);
    t.content = parts.model_vocab->text(t.id);
    t.special = type != kUserDefined;
    parts.control[id] = t.special;
    if (!t.content.empty()) parts.added_tokens.push_back(std::move(t));
  }
}

void build_byte_level_bpe(const GGUFFile& f, TokenizerParts& parts) {
  const std::string pre = f.try_string("tokenizer.ggml.pre").value_or("default");
  auto patterns = gguf_pre_patterns(pre);
  if (!patterns) throw FileFormatError(f.path(), 0, "unsupported tokenizer.ggml.pre '" + pre + "'");
  std::vector<PreTokenizerPtr> steps;
  for (const auto& r : patterns->regexes) steps.push_back(make_regex_split(r, SplitBehavior::Isolated, false));
  steps.push_back(make_byte_level(false, false));
  parts.pre_tokenizer = make_sequence_pre_tokenizer(std::move(steps));

  BpeOptions options;
  options.ignore_merges = patterns->ignore_merges;
  auto model = std::make_unique<BpeModel>(parts.model_vocab, options);
  std::vector<std::pair<std::string, std::string>> merges;
  for (const auto& m : f.get_string_array("tokenizer.ggml.merges")) {
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos) throw FileFormatError(f.path(), 0, "malformed merge '" + m + "'");
    merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  model->set_merges(merges);
  parts.model = std::move(model);
  parts.decoder = make_byte_level_decoder();
}

void build_sentencepiece_bpe(const GGUFFile& f, const std::vector<int64_t>& types, TokenizerParts& parts) {
  const bool add_space_prefix = f.try_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  std::vector<NormalizerPtr> norm;
  if (add_space_prefix) norm.push_back(make_prepend_normalizer(kSpmSpace));
  norm.push_back(make_replace_normalizer(" ", false, kSpmSpace));
  parts.normalizer = make_sequence_normalizer(std::move(norm));

  BpeOptions options;
  options.unk = parts.special.unk;
  options.fuse_unk = true;
  options.byte_fallback = true;
  auto model = std::make_unique<BpeModel>(parts.model_vocab, options);
  std::vector<float> scores;
  for (double s : f.get_float_array("tokenizer.ggml.scores")) scores.push_back(static_cast<float>(s));
  std::vector<bool> mergeable(types.size());
  for (size_t i = 0; i < types.size(); ++i) mergeable[i] = types[i] == kNormal || types[i] == kUserDefined;
  scores.resize(types.size(), 0.0f);
  model->set_merges_from_scores(scores, mergeable);
  parts.model = std::move(model);

  std::vector<DecoderPtr> dec;
  dec.push_back(make_replace_decoder(kSpmSpace, " "));
  dec.push_back(make_byte_fallback_decoder());
  dec.push_back(make_fuse_decoder());
  if (add_space_prefix) dec.push_back(make_strip_decoder(" ", 1, 0));
  parts.decoder = make_sequence_decoder(std::move(dec));
}

// llama.cpp's converter marks word starts with "▁" and drops the "##" of continuation
// pieces; restore the vocab.txt spelling that WordPiece (and token_text) expect.
void restore_wordpiece_texts(std::vector<std::string>& tokens, const std::vector<int64_t>& types) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].rfind(kSpmSpace, 0) == 0) tokens[i].erase(0, kSpmSpace.size());
    else if (types[i] == kNormal) tokens[i].insert(0, "##");
  }
}

void build_wordpiece(const GGUFFile& f, TokenizerParts& parts) {
  parts.normalizer = make_bert_normalizer({});
  parts.pre_tokenizer = make_bert_pre_tokenizer();
  parts.model = std::make_unique<WordPieceModel>(parts.model_vocab, parts.special.unk.value_or(100));
  parts.decoder = make_wordpiece_decoder("##", true);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GGUFFile& f) {
  const std::string model = f.get_string("tokenizer.ggml.model");
  TokenizerParts parts;
  parts.model_vocab = std::make_shared<Vocabulary>();
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  std::vector<int64_t> types = f.has("tokenizer.ggml.token_type") ? f.get_int_array("tokenizer.ggml.token_type")
                                                                  : std::vector<int64_t>(tokens.size(), kNormal);
  types.resize(tokens.size(), kNormal);
  if (model == "bert") restore_wordpiece_texts(tokens, types);
  for (size_t i = 0; i < tokens.size(); ++i) parts.model_vocab->set(static_cast<int32_t>(i), tokens[i]);
  read_special_tokens(f, model, parts);
  collect_added_tokens(types, parts);
  if (model == "gpt2") build_byte_level_bpe(f, parts);
  else if (model == "llama") build_sentencepiece_bpe(f, types, parts);
  else if (model == "bert") build_wordpiece(f, parts);
  else throw FileFormatError(f.path(), 0, "unsupported tokenizer.ggml.model '" + model + "'");
  return std::make_unique<PipelineTokenizer>(std::move(parts));
}

}  // namespace strata
