// Jinja whitespace: expected outputs from jinja2 (tests/chat_template/data/jinja_cases.json).
#include "jinja_case_runner.h"

TEST(JinjaWhitespace, MatchesJinja2) { EXPECT_GT(strata::testing::run_jinja_cases("whitespace"), 0); }
