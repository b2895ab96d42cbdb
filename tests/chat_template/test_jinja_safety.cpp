// Hostile or broken templates: errors name the line, limits stop runaway templates fast,
// and nothing crashes (mutated real templates either render or throw strata::Error).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "chat_template/chat_template.h"
#include "core/error.h"
#include "../sanitizer_slowdown.h"

namespace strata {
namespace {

std::string render(const std::string& source) {
  ChatTemplateInputs inputs;
  inputs.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  return ChatTemplate(source).render(inputs);
}

std::string error_of(const std::string& source) {
  try {
    render(source);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JinjaSafety, SyntaxErrorNamesLineAndColumn) {
  std::string msg = error_of("line one\n{% if true %}\n{{ 1 + }}\n{% endif %}");
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("column"), std::string::npos) << msg;
  msg = error_of("a\nb\n{% for x in y %}never closed");
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  msg = error_of("{{ 'unterminated }}");
  EXPECT_NE(msg.find("line 1"), std::string::npos) << msg;
  msg = error_of("\n\n\n{% frobnicate %}");
  EXPECT_NE(msg.find("line 4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("frobnicate"), std::string::npos) << msg;
}

TEST(JinjaSafety, RuntimeErrorNamesLine) {
  std::string msg = error_of("ok\n\n{{ raise_exception('custom failure') }}");
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("custom failure"), std::string::npos) << msg;
  msg = error_of("{% for m in messages %}\n{{ m.content + 1 }}\n{% endfor %}");
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
}

TEST(JinjaSafety, DeepNestingIsRejectedNotCrashing) {
  for (int depth : {300, 100000}) {
    EXPECT_THROW(render("{{ " + std::string(depth, '(') + "1" + std::string(depth, ')') + " }}"), Error);
    EXPECT_THROW(render("{{ " + std::string(depth, '[') + std::string(depth, ']') + " }}"), Error);
    EXPECT_THROW(render("{{ " + [&] { std::string s; for (int i = 0; i < depth; ++i) s += "not "; return s; }() + "1 }}"), Error);
    std::string ifs;
    for (int i = 0; i < depth; ++i) ifs += "{% if true %}";
    EXPECT_THROW(render(ifs), Error);
  }
  // Recursion multiplies nesting: a recursive macro over a deeply nested expression.
  std::string deep_expr = std::string(150, '(') + "k" + std::string(150, ')');
  EXPECT_THROW(render("{% macro r(k) %}{{ r(" + deep_expr + ") }}{% endmacro %}{{ r(1) }}"), Error);
  // Moderate nesting still works.
  EXPECT_EQ(render("{{ " + std::string(50, '(') + "1" + std::string(50, ')') + " }}"), "1");
}

TEST(JinjaSafety, RunawayTemplatesStopFast) {
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(render("{{ range(10 ** 9) | length }}"), Error);
  EXPECT_THROW(render("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"), Error);
  EXPECT_THROW(render("{% for a in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"), Error);
  EXPECT_THROW(render("{{ 'x' * 10 ** 12 }}"), Error);
  EXPECT_THROW(render("{% macro r(k) %}{{ r(k) }}{% endmacro %}{{ r(1) }}"), Error);
  EXPECT_THROW(render("{% set ns = namespace(s='xx') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"), Error);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 10.0 * testing::kSanitizerSlowdown);
}

TEST(JinjaSafety, MutatedRealTemplatesNeverCrash) {
  namespace fs = std::filesystem;
  std::vector<std::string> sources;
  for (const auto& e : fs::directory_iterator(fs::path(STRATA_SHARED_DIR) / "fixtures" / "chat-templates")) {
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    sources.push_back(ss.str());
  }
  ASSERT_FALSE(sources.empty());
  std::mt19937 rng(1234);
  const std::string alphabet = "{}%#-+()[]'\"|.,:=~*/ \nabcxyz0129";
  ChatTemplateInputs inputs;
  inputs.messages = nlohmann::ordered_json::parse(
      R"([{"role": "system", "content": "s"}, {"role": "user", "content": "hi"},
          {"role": "assistant", "content": "yo"}])");
  const int kIterations = std::getenv("STRATA_FUZZ_ITERATIONS") ? std::atoi(std::getenv("STRATA_FUZZ_ITERATIONS")) : 1500;
  int rendered = 0, threw = 0;
  for (int iter = 0; iter < kIterations; ++iter) {
    std::string s = sources[iter % sources.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !s.empty(); ++k) {
      size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: s.erase(pos, 1 + rng() % 8); break;
        default: s.insert(pos, 1, alphabet[rng() % alphabet.size()]);
      }
    }
    try {
      ChatTemplate(s).render(inputs);
      ++rendered;
    } catch (const Error& e) {
      ++threw;
      // Internal errors mean an unforeseen path (a bug), even though they are caught.
      EXPECT_EQ(std::string(e.what()).find("internal error"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(rendered + threw, kIterations);
}

}  // namespace
}  // namespace strata
