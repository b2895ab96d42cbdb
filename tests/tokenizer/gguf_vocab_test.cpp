// llama.cpp's tokenizer test vectors (ids produced by the Hugging Face tokenizers these
// GGUF vocabularies were converted from): NAME.gguf.inp holds inputs separated by lines
// "__ggml_vocab_test__", NAME.gguf.out the expected ids, one line per input.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

const std::string kDir = std::string(STRATA_SHARED_DIR) + "/fixtures/tokenizers/gguf-vocab/";

std::vector<std::string> split_inputs(const std::string& text) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t pos = text.find(sep); pos != std::string::npos; pos = text.find(sep, start)) {
    parts.push_back(text.substr(start, pos - start));
    start = pos + sep.size();
  }
  return parts;  // the file ends with a separator
}

std::vector<std::vector<int32_t>> read_expected(const std::string& text) {
  std::vector<std::vector<int32_t>> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ids(line);
    std::vector<int32_t> v;
    for (int32_t id; ids >> id;) v.push_back(id);
    lines.push_back(v);
  }
  return lines;
}

class GgufVocabTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufVocabTest, MatchesReferenceIds) {
  const std::string base = kDir + "ggml-vocab-" + GetParam() + ".gguf";
  auto tokenizer = Tokenizer::from_gguf(*GGUFFile::open(base));
  const auto inputs = split_inputs(test::read_file(base + ".inp"));
  const auto expected = read_expected(test::read_file(base + ".out"));
  ASSERT_EQ(inputs.size(), expected.size());
  int mismatches = 0;
  std::string report;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto ids = tokenizer->encode(inputs[i], /*add_special=*/false, /*parse_special=*/false);
    if (ids == expected[i]) continue;
    if (++mismatches <= 5)
      report += "\n  input '" + test::escaped(inputs[i]) + "'\n    got:      " + test::ids_to_string(ids) +
                "\n    expected: " + test::ids_to_string(expected[i]);
  }
  EXPECT_EQ(mismatches, 0) << mismatches << " of " << inputs.size() << " inputs differ:" << report;
}

INSTANTIATE_TEST_SUITE_P(Vocabs, GgufVocabTest,
                         ::testing::Values("gpt-2", "llama-spm", "deepseek-llm", "starcoder", "falcon", "bert-bge"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (auto& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace strata
