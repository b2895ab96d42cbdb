#include "tokenizer/hf_components.h"

#include <climits>

#include "core/error.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/wordpiece_model.h"

namespace strata::hf {

namespace {

using json = nlohmann::json;

std::string type_of(const json& j) { return j.value("type", std::string()); }

[[noreturn]] void unsupported(const std::string& what, const json& j) {
  throw InvalidArgument("tokenizer", "tokenizer.json: unsupported " + what + " '" + type_of(j) + "'");
}

// A Split/Replace pattern: {"String": "..."} or {"Regex": "..."}.
std::pair<std::string, bool> read_pattern(const json& p) {
  if (p.contains("Regex")) return {p["Regex"].get<std::string>(), true};
  return {p.at("String").get<std::string>(), false};
}

SplitBehavior read_behavior(const json& j) {
  const std::string b = j.value("behavior", std::string("Isolated"));
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  throw InvalidArgument("tokenizer", "tokenizer.json: unknown split behavior '" + b + "'");
}

PrependScheme read_prepend_scheme(const json& j) {
  if (j.contains("prepend_scheme")) {
    const std::string s = j["prepend_scheme"].get<std::string>();
    return s == "always" ? PrependScheme::Always : s == "first" ? PrependScheme::First : PrependScheme::Never;
  }
  return j.value("add_prefix_space", true) ? PrependScheme::Always : PrependScheme::Never;
}

bool optional_bool(const json& j, const char* key, bool fallback) {
  return j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : fallback;
}

std::pair<std::string, std::string> read_merge(const json& m) {
  if (m.is_array()) return {m.at(0).get<std::string>(), m.at(1).get<std::string>()};
  const auto s = m.get<std::string>();
  const size_t space = s.find(' ', 1);
  if (space == std::string::npos) throw InvalidArgument("tokenizer", "tokenizer.json: malformed merge '" + s + "'");
  return {s.substr(0, space), s.substr(space + 1)};
}

}  // namespace

int32_t read_token_id(const json& j, const std::string& what) {
  if (j.is_number_unsigned() && j.get<uint64_t>() <= static_cast<uint64_t>(INT32_MAX)) return static_cast<int32_t>(j.get<uint64_t>());
  if (j.is_number_integer() && !j.is_number_unsigned() && j.get<int64_t>() >= INT32_MIN && j.get<int64_t>() <= INT32_MAX)
    return static_cast<int32_t>(j.get<int64_t>());
  throw InvalidArgument("tokenizer", "tokenizer.json: " + what + ": token id " + j.dump() + " is not an integer token id");
}

NormalizerPtr build_normalizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j);
  if (type == "Sequence") {
    std::vector<NormalizerPtr> steps;
    for (const auto& n : j.at("normalizers"))
      if (auto step = build_normalizer(n)) steps.push_back(std::move(step));
    return make_sequence_normalizer(std::move(steps));
  }
  if (type == "Prepend") return make_prepend_normalizer(j.at("prepend").get<std::string>());
  if (type == "Replace") {
    auto [pattern, is_regex] = read_pattern(j.at("pattern"));
    return make_replace_normalizer(pattern, is_regex, j.at("content").get<std::string>());
  }
  if (type == "NFC") return make_nfc_normalizer();
  if (type == "NFD") return make_nfd_normalizer();
  if (type == "Lowercase") return make_lowercase_normalizer();
  if (type == "StripAccents") return make_strip_accents_normalizer();
  if (type == "Strip") return make_strip_normalizer(j.value("strip_left", true), j.value("strip_right", true));
  if (type == "BertNormalizer") {
    BertNormalizerOptions o;
    o.clean_text = j.value("clean_text", true);
    o.handle_chinese_chars = j.value("handle_chinese_chars", true);
    o.lowercase = j.value("lowercase", true);
    o.strip_accents = optional_bool(j, "strip_accents", o.lowercase);
    return make_bert_normalizer(o);
  }
  unsupported("normalizer", j);
}

PreTokenizerPtr build_pre_tokenizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j);
  if (type == "Sequence") {
    std::vector<PreTokenizerPtr> steps;
    for (const auto& p : j.at("pretokenizers"))
      if (auto step = build_pre_tokenizer(p)) steps.push_back(std::move(step));
    return make_sequence_pre_tokenizer(std::move(steps));
  }
  if (type == "Split") {
    auto [pattern, is_regex] = read_pattern(j.at("pattern"));
    const bool invert = j.value("invert", false);
    return is_regex ? make_regex_split(pattern, read_behavior(j), invert)
                    : make_literal_split(pattern, read_behavior(j), invert);
  }
  if (type == "ByteLevel") return make_byte_level(j.value("add_prefix_space", true), j.value("use_regex", true));
  if (type == "Digits") return make_digits(j.value("individual_digits", false));
  if (type == "Punctuation") return make_punctuation(read_behavior(j));
  if (type == "Whitespace") return make_whitespace();
  if (type == "WhitespaceSplit") return make_whitespace_split();
  if (type == "BertPreTokenizer") return make_bert_pre_tokenizer();
  if (type == "Metaspace")
    return make_metaspace(j.value("replacement", std::string("\xE2\x96\x81")), read_prepend_scheme(j),
                          j.value("split", true));
  unsupported("pre_tokenizer", j);
}

DecoderPtr build_decoder(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j);
  if (type == "Sequence") {
    std::vector<DecoderPtr> steps;
    for (const auto& d : j.at("decoders"))
      if (auto step = build_decoder(d)) steps.push_back(std::move(step));
    return make_sequence_decoder(std::move(steps));
  }
  if (type == "ByteLevel") return make_byte_level_decoder();
  if (type == "Replace") {
    auto [pattern, is_regex] = read_pattern(j.at("pattern"));
    if (is_regex) unsupported("regex Replace decoder", j);
    return make_replace_decoder(pattern, j.at("content").get<std::string>());
  }
  if (type == "ByteFallback") return make_byte_fallback_decoder();
  if (type == "Fuse") return make_fuse_decoder();
  if (type == "Strip")
    return make_strip_decoder(j.at("content").get<std::string>(), j.value("start", 0), j.value("stop", 0));
  if (type == "Metaspace")
    return make_metaspace_decoder(j.value("replacement", std::string("\xE2\x96\x81")),
                                  read_prepend_scheme(j) != PrependScheme::Never);
  if (type == "WordPiece") return make_wordpiece_decoder(j.value("prefix", std::string("##")), j.value("cleanup", true));
  unsupported("decoder", j);
}

void build_model(const json& j, TokenizerParts& parts) {
  const std::string type = type_of(j).empty() && j.contains("merges") ? "BPE" : type_of(j);
  auto unk_id = [&]() -> std::optional<int32_t> {
    if (!j.contains("unk_token") || j["unk_token"].is_null()) return std::nullopt;
    return parts.model_vocab->find(j["unk_token"].get<std::string>());
  };
  if (type == "BPE") {
    BpeOptions o;
    o.unk = unk_id();
    o.fuse_unk = j.value("fuse_unk", false);
    o.byte_fallback = j.value("byte_fallback", false);
    o.ignore_merges = j.value("ignore_merges", false);
    if (j.contains("continuing_subword_prefix") && j["continuing_subword_prefix"].is_string())
      o.continuing_subword_prefix = j["continuing_subword_prefix"].get<std::string>();
    if (j.contains("end_of_word_suffix") && j["end_of_word_suffix"].is_string())
      o.end_of_word_suffix = j["end_of_word_suffix"].get<std::string>();
    auto model = std::make_unique<BpeModel>(parts.model_vocab, o);
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(j.at("merges").size());
    for (const auto& m : j.at("merges")) merges.push_back(read_merge(m));
    model->set_merges(merges);
    parts.model = std::move(model);
    return;
  }
  if (type == "WordPiece") {
    parts.model = std::make_unique<WordPieceModel>(parts.model_vocab, unk_id().value_or(0),
                                                   j.value("continuing_subword_prefix", std::string("##")),
                                                   j.value("max_input_chars_per_word", size_t{100}));
    return;
  }
  unsupported("model", j);
}

void read_post_processor(const json& j, TokenizerParts& parts) {
  if (j.is_null()) return;
  const std::string type = type_of(j);
  if (type == "Sequence") {
    for (const auto& p : j.at("processors")) read_post_processor(p, parts);
  } else if (type == "TemplateProcessing") {
    bool seen_sequence = false;
    for (const auto& piece : j.at("single")) {
      if (piece.contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      const auto name = piece.at("SpecialToken").at("id").get<std::string>();
      const auto& ids = j.at("special_tokens").at(name).at("ids");
      auto& target = seen_sequence ? parts.suffix_ids : parts.prefix_ids;
      for (const auto& id : ids) target.push_back(read_token_id(id, "post_processor special token " + name));
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    parts.prefix_ids.push_back(read_token_id(j.at("cls").at(1), "post_processor cls"));
    parts.suffix_ids.push_back(read_token_id(j.at("sep").at(1), "post_processor sep"));
  }
  // ByteLevel post-processing only adjusts offsets.
}

}  // namespace strata::hf
