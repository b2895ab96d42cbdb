#pragma once
// Runs the rows of data/jinja_cases.json (made by tools/gen_jinja_cases.py from jinja2) of
// one category: each template rendered with its context must equal jinja2's output, or
// throw strata::Error where jinja2 raised.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "chat_template/chat_template.h"
#include "core/error.h"

namespace strata::testing {

inline constexpr int64_t kCasesFixedTime = 1753531200;  // as FIXED_TIME in the generator

inline int run_jinja_cases(const std::string& category) {
  std::ifstream in(std::string(STRATA_SOURCE_DIR) + "/tests/chat_template/data/jinja_cases.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto cases = nlohmann::ordered_json::parse(ss.str()).at("cases");
  int count = 0;
  for (const auto& c : cases) {
    if (c.at("category") != category) continue;
    ++count;
    const std::string source = c.at("template").get<std::string>();
    ChatTemplateInputs inputs;
    inputs.extra_context = c.at("context");
    inputs.fixed_time = kCasesFixedTime;
    std::string got, error;
    try {
      got = ChatTemplate(source).render(inputs);
    } catch (const Error& e) {
      error = e.what();
    }
    if (c.contains("error")) {
      EXPECT_FALSE(error.empty()) << "template: " << source << "\njinja2 raised " << c.at("error")
                                  << " but Strata rendered: " << got;
    } else {
      EXPECT_EQ(error, "") << "template: " << source;
      EXPECT_EQ(c.at("output").get<std::string>(), got) << "template: " << source;
    }
  }
  return count;
}

}  // namespace strata::testing
