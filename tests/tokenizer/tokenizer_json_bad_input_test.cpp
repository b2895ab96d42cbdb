// Malformed tokenizer.json files (found by tests/fuzz/fuzz_tokenizer_json): each gets a
// strata::Error naming the problem, never a crash or a multi-gigabyte allocation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

class TokenizerJsonBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "strata-tokenizer-json-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Tokenizer> load(const std::string& json) {
    const std::string path = dir_ + "/tokenizer.json";
    std::ofstream(path) << json;
    return Tokenizer::from_tokenizer_json(path);
  }

  // The error message of loading `json` ("" if it loads).
  std::string error_of(const std::string& json) {
    try {
      load(json);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  std::string dir_;
};

// A BPE model over "a", "b", "ab" with `extra` spliced into the top-level object.
std::string bpe(const std::string& vocab, const std::string& extra = "") {
  return R"({"model": {"type": "BPE", "vocab": )" + vocab + R"(, "merges": ["a b"]}, "added_tokens": [])" + extra + "}";
}

TEST_F(TokenizerJsonBadInput, HugeVocabularyIdIsAnErrorNotAnAllocation) {
  // The fuzzer's first find: id 2147483647 sized the id -> text table at 2^31 strings.
  const std::string message = error_of(bpe(R"({"a": 0, "b": 1, "ab": 2147483647})"));
  EXPECT_NE(message.find("token id 2147483647"), std::string::npos) << message;
}

TEST_F(TokenizerJsonBadInput, HugeOrNegativeAddedTokenIdIsAnError) {
  const std::string vocab = R"({"a": 0, "b": 1, "ab": 2})";
  for (const char* id : {"2147483647", "-1", "99999999999", "1.5e20", "\"3\""}) {
    const std::string json = R"({"model": {"type": "BPE", "vocab": )" + vocab +
                             R"(, "merges": ["a b"]}, "added_tokens": [{"id": )" + id + R"(, "content": "<x>"}]})";
    const std::string message = error_of(json);
    EXPECT_NE(message.find("token id"), std::string::npos) << id << ": " << message;
  }
}

TEST_F(TokenizerJsonBadInput, NonIntegerVocabularyIdIsAnError) {
  for (const char* id : {"1e30", "-5", "0.5", "null"}) {
    const std::string message = error_of(bpe(std::string(R"({"a": 0, "b": 1, "ab": )") + id + "}"));
    EXPECT_FALSE(message.empty()) << id;
  }
}

TEST_F(TokenizerJsonBadInput, PostProcessorIdOutsideTheVocabularyIsAnError) {
  // encode(add_special) would otherwise hand the model a token id it has no embedding for.
  const std::string templ = R"(, "post_processor": {"type": "TemplateProcessing", "single": [
      {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [70000], "tokens": ["<s>"]}}})";
  EXPECT_NE(error_of(bpe(R"({"a": 0, "b": 1, "ab": 2})", templ)).find("70000"), std::string::npos);
  const std::string bert = R"(, "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", -4], "cls": ["[CLS]", 0]})";
  EXPECT_NE(error_of(bpe(R"({"a": 0, "b": 1, "ab": 2})", bert)).find("-4"), std::string::npos);
}

TEST_F(TokenizerJsonBadInput, SmallHolesInTheIdsStillLoad) {
  auto tokenizer = load(bpe(R"({"a": 0, "b": 1, "ab": 40})"));
  EXPECT_EQ(tokenizer->vocab_size(), 41);
  EXPECT_EQ(tokenizer->encode("ab", false, false), std::vector<int32_t>{40});
}

}  // namespace
}  // namespace strata
