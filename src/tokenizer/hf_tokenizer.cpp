// Tokenizer::from_tokenizer_json: a Hugging Face tokenizer.json interpreted step by step,
// with the special tokens and chat template of the tokenizer_config.json beside it.
#include <filesystem>
#include <algorithm>
#include <fstream>

#include "core/error.h"
#include "tokenizer/hf_components.h"

namespace strata {

namespace {

using json = nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InvalidArgument("tokenizer", path + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw FileFormatError(path, 0, std::string("invalid JSON: ") + e.what());
  }
}

// bos_token / eos_token are either a string or {"content": ...}.
std::optional<std::string> token_content(const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content")) return v["content"].get<std::string>();
  return std::nullopt;
}

std::string read_chat_template(const json& config) {
  if (!config.contains("chat_template")) return {};
  const json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array())  // [{"name": "default", "template": ...}, ...]
    for (const auto& entry : t)
      if (entry.value("name", std::string()) == "default") return entry.value("template", std::string());
  return {};
}

void read_added_tokens(const json& j, TokenizerParts& parts) {
  if (!j.contains("added_tokens")) return;
  for (const auto& a : j["added_tokens"]) {
    AddedToken t;
    t.content = a.at("content").get<std::string>();
    t.id = hf::read_token_id(a.at("id"), "added token '" + t.content + "'");
    t.special = a.value("special", false);
    t.lstrip = a.value("lstrip", false);
    t.rstrip = a.value("rstrip", false);
    t.single_word = a.value("single_word", false);
    t.normalized = a.value("normalized", !t.special);
    parts.added_tokens.push_back(std::move(t));
  }
}

std::optional<int32_t> find_id(const TokenizerParts& parts, const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  for (const auto& t : parts.added_tokens)
    if (t.content == *text) return t.id;
  return parts.model_vocab->find(*text);
}

void read_config(const std::string& tokenizer_json_path, TokenizerParts& parts) {
  SpecialTokens& s = parts.special;
  const auto config_path = std::filesystem::path(tokenizer_json_path).parent_path() / "tokenizer_config.json";
  json config = json::object();
  if (std::filesystem::exists(config_path)) config = read_json(config_path.string());
  s.bos = find_id(parts, token_content(config, "bos_token"));
  s.eos = find_id(parts, token_content(config, "eos_token"));
  s.unk = find_id(parts, token_content(config, "unk_token"));
  s.pad = find_id(parts, token_content(config, "pad_token"));
  if (s.eos) s.end_of_generation.push_back(*s.eos);
  for (const char* name : {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>"})
    if (auto id = find_id(parts, std::string(name)))
      if (std::find(s.end_of_generation.begin(), s.end_of_generation.end(), *id) == s.end_of_generation.end())
        s.end_of_generation.push_back(*id);
  // encode(add_special) follows the post-processor, as `tokenizers` and transformers do.
  s.add_bos = s.bos && !parts.prefix_ids.empty() && parts.prefix_ids.front() == *s.bos;
  s.add_eos = s.eos && !parts.suffix_ids.empty() && parts.suffix_ids.back() == *s.eos;
  parts.chat_template = read_chat_template(config);
}

// Token ids index arrays of the largest id + 1: an id far beyond the number of entries
// (e.g. 2147483647 in a 5-token vocabulary) would make them gigabytes. Real files are
// dense; a few holes are allowed.
void check_token_id(int64_t id, size_t entries, const std::string& path, const std::string& what) {
  const int64_t limit = 2 * static_cast<int64_t>(entries) + 1024;
  if (id < 0 || id >= limit)
    throw FileFormatError(path, 0, what + " has token id " + std::to_string(id) + ", outside [0, " +
                                       std::to_string(limit) + ") for a tokenizer of " + std::to_string(entries) +
                                       " tokens");
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_tokenizer_json(const std::string& path) {
  const json j = read_json(path);
  try {
    TokenizerParts parts;
    parts.model_vocab = std::make_shared<Vocabulary>();
    const json& model = j.at("model");
    const size_t entries = model.at("vocab").size() + (j.contains("added_tokens") ? j["added_tokens"].size() : 0);
    for (const auto& [text, id] : model.at("vocab").items()) {
      const int32_t token = hf::read_token_id(id, "vocabulary entry '" + text + "'");
      check_token_id(token, entries, path, "the vocabulary entry '" + text + "'");
      parts.model_vocab->set(token, text);
    }
    read_added_tokens(j, parts);
    for (const auto& t : parts.added_tokens) check_token_id(t.id, entries, path, "the added token '" + t.content + "'");
    hf::build_model(model, parts);
    parts.normalizer = hf::build_normalizer(j.value("normalizer", json()));
    parts.pre_tokenizer = hf::build_pre_tokenizer(j.value("pre_tokenizer", json()));
    parts.decoder = hf::build_decoder(j.value("decoder", json()));
    hf::read_post_processor(j.value("post_processor", json()), parts);
    read_config(path, parts);
    return std::make_unique<PipelineTokenizer>(std::move(parts));
  } catch (const json::exception& e) {
    throw FileFormatError(path, 0, std::string("unexpected tokenizer.json content: ") + e.what());
  }
}

}  // namespace strata
