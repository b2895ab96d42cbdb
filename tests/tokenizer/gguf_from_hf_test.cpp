// The GGUF path for pre-tokenizers the gguf-vocab fixtures lack (llama-bpe, deepseek-v3):
// a tokenizer.json fixture is converted to GGUF tokenizer metadata the way llama.cpp's
// convert_hf_to_gguf.py writes it, then loaded through Tokenizer::from_gguf and checked
// against the same Hugging Face goldens as the tokenizer.json itself.
#include <gtest/gtest.h>

#include <filesystem>

#include "golden_corpus.h"
#include "model/gguf.h"
#include "model/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

std::string write_gguf_tokenizer(const std::string& name, const std::string& pre, bool add_bos) {
  const auto j = nlohmann::json::parse(
      test::read_file(std::string(STRATA_SHARED_DIR) + "/fixtures/tokenizers/hf/" + name + "/tokenizer.json"));
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  auto put = [&](int32_t id, const std::string& text, int32_t type) {
    if (static_cast<size_t>(id) >= tokens.size()) {
      for (size_t i = tokens.size(); i <= static_cast<size_t>(id); ++i) tokens.push_back("[PAD" + std::to_string(i) + "]");
      types.resize(tokens.size(), kUnused);
    }
    tokens[id] = text;
    types[id] = type;
  };
  for (const auto& [text, id] : j.at("model").at("vocab").items()) put(id.get<int32_t>(), text, kNormal);
  std::optional<int32_t> bos;
  for (const auto& a : j.at("added_tokens")) {
    put(a.at("id").get<int32_t>(), a.at("content").get<std::string>(), a.value("special", false) ? kControl : kUserDefined);
    if (a.at("id").get<int32_t>() == 128000 || a.at("content") == "<｜begin▁of▁sentence｜>") bos = a.at("id").get<int32_t>();
  }
  std::vector<std::string> merges;
  for (const auto& m : j.at("model").at("merges"))
    merges.push_back(m.is_string() ? m.get<std::string>() : m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());

  GGUFWriter w;
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", pre);
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  w.add_int32_array("tokenizer.ggml.token_type", types);
  w.add_string_array("tokenizer.ggml.merges", merges);
  if (bos) w.add_uint32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*bos));
  w.add_bool("tokenizer.ggml.add_bos_token", add_bos);
  const auto path = std::filesystem::path(STRATA_BINARY_DIR) / ("tokenizer_test_" + name + ".gguf");
  w.write(path.string());
  return path.string();
}

void expect_gguf_matches_golden(const std::string& name, const std::string& pre, bool add_bos) {
  auto tok = Tokenizer::from_gguf(*GGUFFile::open(write_gguf_tokenizer(name, pre, add_bos)));
  test::MismatchReport plain("ids"), special("ids add_special"), no_parse("ids no parse_special"), decoded("decode");
  const auto cases = test::load_golden(name);
  for (const auto& c : cases) {
    auto ids = tok->encode(c.input, false, true);
    if (ids != c.ids) plain.add(c.input, test::ids_to_string(ids), test::ids_to_string(c.ids));
    ids = tok->encode(c.input, true, true);
    if (ids != c.ids_special) special.add(c.input, test::ids_to_string(ids), test::ids_to_string(c.ids_special));
    ids = tok->encode(c.input, false, false);
    if (ids != c.ids_no_parse) no_parse.add(c.input, test::ids_to_string(ids), test::ids_to_string(c.ids_no_parse));
    const auto text = tok->decode(c.ids, false);
    if (text != c.decoded) decoded.add(c.input, text, c.decoded);
  }
  for (const auto* r : {&plain, &special, &no_parse, &decoded})
    EXPECT_EQ(r->count(), 0) << r->count() << " of " << cases.size() << " differ:" << r->text();
}

TEST(GgufFromHfTest, Llama3PreTokenizer) { expect_gguf_matches_golden("llama3_1", "llama-bpe", true); }
TEST(GgufFromHfTest, DeepSeekV3PreTokenizer) { expect_gguf_matches_golden("deepseek_v3", "deepseek-v3", false); }

}  // namespace
}  // namespace strata
