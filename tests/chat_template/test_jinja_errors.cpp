// Jinja errors: expected outputs from jinja2 (tests/chat_template/data/jinja_cases.json).
#include "jinja_case_runner.h"

TEST(JinjaErrors, MatchesJinja2) { EXPECT_GT(strata::testing::run_jinja_cases("errors"), 0); }
