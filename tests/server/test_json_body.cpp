// Request-body parsing on its own (no server): every malformed body is an ApiError 400.
// Regression cases found by tests/fuzz/fuzz_request.cpp are kept here by name.
#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/json_body.h"

namespace strata::testing {
namespace {

int status_of(std::string_view body) {
  try {
    parse_json_object_body(body, 64);
    return 200;
  } catch (const ApiError& e) {
    return e.status();
  }
}

TEST(JsonBody, MalformedBodiesAre400) {
  EXPECT_EQ(status_of("not json"), 400);
  EXPECT_EQ(status_of("[1]"), 400);
  EXPECT_EQ(status_of(std::string(100, '[')), 400);
  EXPECT_EQ(status_of(R"({"a": 1})"), 200);
}

// Fuzz finding (crash-83105841): a number overflowing a double made nlohmann throw
// out_of_range, not parse_error, and it escaped as a non-ApiError.
TEST(JsonBody, NumberOverflowIs400) {
  EXPECT_EQ(status_of("66666666e866e]}"), 400);
  EXPECT_EQ(status_of(R"({"max_tokens": 1e999})"), 400);
  EXPECT_EQ(status_of(R"({"temperature": -1e400})"), 400);
}

}  // namespace
}  // namespace strata::testing
