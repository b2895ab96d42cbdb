// Added tokens with every flag (normalized, lstrip, rstrip, single_word, special), put into
// the llama2 and qwen3 fixtures as tools/gen_tokenizer_goldens.py does, against the ids
// Hugging Face tokenizers gives.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "golden_corpus.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

std::unique_ptr<Tokenizer> with_added_tokens(const std::string& name, const nlohmann::json& tokens) {
  auto j = nlohmann::json::parse(test::read_file(std::string(STRATA_SHARED_DIR) + "/fixtures/tokenizers/hf/" + name + "/tokenizer.json"));
  for (const auto& t : tokens) {
    j["added_tokens"].push_back({{"id", t.at("id")}, {"content", t.at("content")},
                                 {"single_word", t.value("single_word", false)}, {"lstrip", t.value("lstrip", false)},
                                 {"rstrip", t.value("rstrip", false)}, {"normalized", t.value("normalized", false)},
                                 {"special", t.value("special", false)}});
  }
  const auto dir = std::filesystem::path(STRATA_BINARY_DIR) / ("tokenizer_test_added_" + name);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << j.dump();
  return Tokenizer::load(dir.string());
}

TEST(AddedTokensTest, FlagsMatchTokenizersLibrary) {
  const auto golden = nlohmann::json::parse(test::read_file(test::data_dir() + "golden_added_tokens.json"));
  std::map<std::string, std::unique_ptr<Tokenizer>> tokenizers;
  for (const auto& [name, tokens] : golden.at("tokens").items()) tokenizers[name] = with_added_tokens(name, tokens);
  test::MismatchReport parsed("ids"), unparsed("ids no parse_special");
  for (const auto& c : golden.at("cases")) {
    const auto& tok = *tokenizers.at(c.at("tokenizer").get<std::string>());
    const auto text = c.at("text").get<std::string>();
    const auto expected = c.at("ids").get<std::vector<int32_t>>();
    const auto expected_no_parse = c.at("ids_no_parse").get<std::vector<int32_t>>();
    auto ids = tok.encode(text, false, true);
    if (ids != expected) parsed.add(c["tokenizer"].get<std::string>() + ": " + text, test::ids_to_string(ids), test::ids_to_string(expected));
    ids = tok.encode(text, false, false);
    if (ids != expected_no_parse)
      unparsed.add(c["tokenizer"].get<std::string>() + ": " + text, test::ids_to_string(ids), test::ids_to_string(expected_no_parse));
  }
  EXPECT_EQ(parsed.count(), 0) << parsed.text();
  EXPECT_EQ(unparsed.count(), 0) << unparsed.text();
}

}  // namespace
}  // namespace strata
