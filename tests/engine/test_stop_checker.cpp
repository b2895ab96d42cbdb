// The stop checker against hand-worked expectations: stop strings across token
// boundaries, hold-back of possible stop prefixes, stop ids, eos, min/max tokens.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "engine/stop_checker.h"

namespace strata {
namespace {

constexpr int32_t kEos = 2;

struct Run {
  std::string text;
  std::optional<FinishReason> finish;
  std::string matched;
  int tokens = 0;
};

// Feeds (token, piece) pairs until the checker finishes; collects the released text.
Run feed(StopChecker& checker, const std::vector<std::pair<int32_t, std::string>>& pieces) {
  Run run;
  for (const auto& [token, piece] : pieces) {
    auto d = checker.append(token, piece);
    run.text += d.text;
    ++run.tokens;
    if (d.finish) {
      run.finish = d.finish;
      run.matched = d.matched_stop;
      return run;
    }
  }
  return run;
}

StopConditions with_stops(std::vector<std::string> stops, int max_tokens = 100) {
  StopConditions c;
  c.stop_strings = std::move(stops);
  c.max_tokens = max_tokens;
  return c;
}

TEST(StopChecker, StopStringSpanningTokensIsNeverReleased) {
  StopChecker checker(with_stops({"</end>"}), {kEos});
  const std::vector<std::pair<int32_t, std::string>> pieces = {
      {10, "Hello"}, {11, " wor"}, {12, "ld</"}, {13, "en"}, {14, "d> tail"}};
  std::string released;
  for (size_t i = 0; i < pieces.size(); ++i) {
    auto d = checker.append(pieces[i].first, pieces[i].second);
    released += d.text;
    EXPECT_EQ(released.find('<'), std::string::npos) << "part of the stop string leaked at token " << i;
    if (i == 2) {
      EXPECT_EQ(released, "Hello world");
    }
    if (d.finish) {
      EXPECT_EQ(*d.finish, FinishReason::Stop);
      EXPECT_EQ(d.matched_stop, "</end>");
      EXPECT_EQ(i, 4u);
    }
  }
  EXPECT_EQ(released, "Hello world");
}

TEST(StopChecker, FalseStartIsReleasedOnceItCannotMatch) {
  StopChecker checker(with_stops({"STOP"}), {kEos});
  auto d1 = checker.append(5, "aST");
  EXPECT_EQ(d1.text, "a");
  auto d2 = checker.append(6, "OX");
  EXPECT_EQ(d2.text, "STOX");
  EXPECT_FALSE(d2.finish);
}

TEST(StopChecker, EarliestOfSeveralStopStringsWins) {
  StopChecker checker(with_stops({"world", "lo w"}), {kEos});
  auto run = feed(checker, {{1, "hello world"}});
  EXPECT_EQ(run.text, "hel");
  EXPECT_EQ(run.matched, "lo w");
}

TEST(StopChecker, IncludeStopStringInOutput) {
  auto c = with_stops({"\n\n"});
  c.include_stop_string_in_output = true;
  StopChecker checker(c, {kEos});
  auto run = feed(checker, {{1, "line\n"}, {3, "\nnext"}});
  EXPECT_EQ(run.text, "line\n\n");
  EXPECT_EQ(*run.finish, FinishReason::Stop);
}

TEST(StopChecker, EosStopsAndReleasesHeldText) {
  StopChecker checker(with_stops({"abc"}), {kEos});
  auto run = feed(checker, {{1, "xa"}, {2, "<eos text>"}});
  EXPECT_EQ(run.text, "xa");
  EXPECT_EQ(*run.finish, FinishReason::Stop);
  EXPECT_TRUE(run.matched.empty());
}

TEST(StopChecker, IgnoreEosContinuesButStopTokenIdsStillStop) {
  auto c = with_stops({});
  c.ignore_eos = true;
  c.stop_token_ids = {7};
  StopChecker checker(c, {kEos});
  auto run = feed(checker, {{1, "a"}, {kEos, "b"}, {3, "c"}, {7, "d"}, {4, "e"}});
  EXPECT_EQ(run.text, "abc");
  EXPECT_EQ(run.tokens, 4);
  EXPECT_EQ(*run.finish, FinishReason::Stop);
}

TEST(StopChecker, MaxTokensFinishesWithLengthAndReleasesAll) {
  StopChecker checker(with_stops({"xyz"}, 3), {kEos});
  auto run = feed(checker, {{1, "a"}, {1, "b"}, {1, "cx"}, {1, "yz"}});
  EXPECT_EQ(run.text, "abcx");
  EXPECT_EQ(*run.finish, FinishReason::Length);
  EXPECT_EQ(run.tokens, 3);
}

TEST(StopChecker, MinTokensSuppressesStops) {
  auto c = with_stops({"!"});
  c.min_tokens = 2;
  StopChecker checker(c, {kEos});
  auto run = feed(checker, {{kEos, "<e>"}, {1, "hi!"}, {kEos, ""}});
  EXPECT_EQ(run.text, "<e>hi!");
  EXPECT_EQ(run.tokens, 3);
  EXPECT_EQ(*run.finish, FinishReason::Stop);
}

TEST(StopChecker, StopStringInsideOneTokenWithTextAfter) {
  StopChecker checker(with_stops({"###"}), {kEos});
  auto run = feed(checker, {{1, "Answer: 4"}, {3, "2 ### next"}});
  EXPECT_EQ(run.text, "Answer: 42 ");
  EXPECT_EQ(run.matched, "###");
}

TEST(StopChecker, FlushReleasesHeldBack) {
  StopChecker checker(with_stops({"<|end|>"}), {kEos});
  EXPECT_EQ(checker.append(1, "ok<|e").text, "ok");
  EXPECT_EQ(checker.flush(), "<|e");
}

// Every split of a text into pieces gives the same released text and never a stop prefix.
TEST(StopChecker, AllTwoWaySplitsAgree) {
  const std::string text = "one two <stop> three";
  for (size_t cut1 = 0; cut1 <= text.size(); ++cut1)
    for (size_t cut2 = cut1; cut2 <= text.size(); ++cut2) {
      StopChecker checker(with_stops({"<stop>"}), {kEos});
      auto run = feed(checker, {{1, text.substr(0, cut1)}, {1, text.substr(cut1, cut2 - cut1)},
                                {1, text.substr(cut2)}});
      ASSERT_EQ(run.text, "one two ") << cut1 << "," << cut2;
      ASSERT_EQ(run.matched, "<stop>");
    }
}

}  // namespace
}  // namespace strata
