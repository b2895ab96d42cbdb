#pragma once
// Loads tests/tokenizer/data/corpus.json and golden_<name>.json (written by
// tools/make_tokenizer_corpus.py and tools/gen_tokenizer_goldens.py).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "test_util.h"

namespace strata::test {

struct GoldenCase {
  std::string input;  // raw bytes (may be invalid UTF-8)
  std::vector<int32_t> ids, ids_special, ids_no_parse;
  std::string decoded, decoded_skip;
};

inline std::string data_dir() { return std::string(STRATA_SOURCE_DIR) + "/tests/tokenizer/data/"; }

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

inline std::vector<std::string> load_corpus() {
  const auto j = nlohmann::json::parse(read_file(data_dir() + "corpus.json"));
  std::vector<std::string> texts;
  for (const auto& e : j.at("strings"))
    texts.push_back(e.contains("text") ? e["text"].get<std::string>() : from_hex(e.at("hex").get<std::string>()));
  return texts;
}

inline std::vector<GoldenCase> load_golden(const std::string& name) {
  const auto corpus = load_corpus();
  const auto j = nlohmann::json::parse(read_file(data_dir() + "golden_" + name + ".json"));
  std::vector<GoldenCase> cases;
  const auto& list = j.at("cases");
  for (size_t i = 0; i < list.size() && i < corpus.size(); ++i) {
    const auto& c = list[i];
    cases.push_back({corpus[i], c.at("ids").get<std::vector<int32_t>>(), c.at("ids_special").get<std::vector<int32_t>>(),
                     c.at("ids_no_parse").get<std::vector<int32_t>>(), c.at("decoded").get<std::string>(),
                     c.at("decoded_skip").get<std::string>()});
  }
  return cases;
}

// Counts mismatches and keeps a readable report of the first few.
class MismatchReport {
 public:
  explicit MismatchReport(std::string what) : what_(std::move(what)) {}
  void add(const std::string& input, const std::string& got, const std::string& expected) {
    if (++count_ <= 4)
      text_ += "\n  [" + what_ + "] input '" + escaped(input) + "'\n    got:      " + escaped(got) +
               "\n    expected: " + escaped(expected);
  }
  int count() const { return count_; }
  const std::string& text() const { return text_; }

 private:
  std::string what_;
  int count_ = 0;
  std::string text_;
};

}  // namespace strata::test
