// Jinja statements: expected outputs from jinja2 (tests/chat_template/data/jinja_cases.json).
#include "jinja_case_runner.h"

TEST(JinjaStatements, MatchesJinja2) { EXPECT_GT(strata::testing::run_jinja_cases("statements"), 0); }
