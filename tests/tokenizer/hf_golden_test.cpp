// The C++ tokenizers against the Hugging Face reference on the whole corpus: ids with and
// without special tokens, with special-token text parsed or not, and decoded text.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "golden_corpus.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

void expect_matches_golden(const Tokenizer& tok, const std::string& golden_name) {
  const auto cases = test::load_golden(golden_name);
  ASSERT_GE(cases.size(), 500u);
  test::MismatchReport plain("ids"), special("ids add_special"), no_parse("ids no parse_special"),
      decoded("decode"), decoded_skip("decode skip_special");
  for (const auto& c : cases) {
    auto ids = tok.encode(c.input, false, true);
    if (ids != c.ids) plain.add(c.input, test::ids_to_string(ids), test::ids_to_string(c.ids));
    ids = tok.encode(c.input, true, true);
    if (ids != c.ids_special) special.add(c.input, test::ids_to_string(ids), test::ids_to_string(c.ids_special));
    ids = tok.encode(c.input, false, false);
    if (ids != c.ids_no_parse) no_parse.add(c.input, test::ids_to_string(ids), test::ids_to_string(c.ids_no_parse));
    auto text = tok.decode(c.ids, false);
    if (text != c.decoded) decoded.add(c.input, text, c.decoded);
    text = tok.decode(c.ids_special, true);
    if (text != c.decoded_skip) decoded_skip.add(c.input, text, c.decoded_skip);
  }
  for (const auto* r : {&plain, &special, &no_parse, &decoded, &decoded_skip})
    EXPECT_EQ(r->count(), 0) << r->count() << " of " << cases.size() << " differ:" << r->text();
}

class HfGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(HfGoldenTest, MatchesTokenizersLibrary) {
  const std::string path = std::string(STRATA_SHARED_DIR) + "/fixtures/tokenizers/hf/" + GetParam() + "/tokenizer.json";
  auto tok = Tokenizer::from_tokenizer_json(path);
  expect_matches_golden(*tok, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfGoldenTest, ::testing::Values("llama2", "llama3_1", "qwen3", "deepseek_v3"));

// Metaspace pre-tokenizer and decoder: the llama2 fixture rewritten exactly as
// metaspace_variant() in tools/gen_tokenizer_goldens.py does.
TEST(MetaspaceTest, MatchesTokenizersLibrary) {
  auto j = nlohmann::json::parse(test::read_file(std::string(STRATA_SHARED_DIR) + "/fixtures/tokenizers/hf/llama2/tokenizer.json"));
  const nlohmann::json metaspace = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", false}};
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = metaspace;
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders", {metaspace, {{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}};
  const auto dir = std::filesystem::path(STRATA_BINARY_DIR) / "tokenizer_test_llama2_metaspace";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << j.dump();
  auto tok = Tokenizer::load(dir.string());
  expect_matches_golden(*tok, "llama2_metaspace");
}

// WordPiece through tokenizer.json (built by tools/gen_tokenizer_goldens.py from the
// bert-bge GGUF fixture's vocabulary).
TEST(BertWordPieceTest, MatchesTokenizersLibrary) {
  auto tok = Tokenizer::from_tokenizer_json(test::data_dir() + "bert_bge/tokenizer.json");
  expect_matches_golden(*tok, "bert_bge");
}

TEST(SmolLM2GgufTest, MatchesTransformersTokenizerFromGguf) {
  const char* home = std::getenv("HOME");
  const std::string path = std::string(home ? home : "") + "/.cache/strata/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not found (scripts/fetch-model fetches it)";
  auto tok = Tokenizer::load(path);
  expect_matches_golden(*tok, "smollm2_gguf");
}

}  // namespace
}  // namespace strata
