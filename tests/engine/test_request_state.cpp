// ActiveRequest::accept: each token's logprobs entry carries the text it completes, so the
// entries joined are the choice's text even where a character is split across tokens.
#include <gtest/gtest.h>

#include "byte_tokenizer.h"
#include "engine/request_state.h"

namespace strata {
namespace {

struct Accepted {
  std::string text;
  std::vector<TokenLogprob> logprobs;
  std::optional<FinishReason> finish;
};

Accepted accept_all(const std::string& bytes, int max_tokens, std::vector<int32_t> extra = {}) {
  const strata::testing::ByteTokenizer tokenizer;
  GenerationRequest request;
  request.request_id = "r";
  request.sampling.logprobs = true;
  request.stop.max_tokens = max_tokens;
  request.stop.ignore_eos = true;
  auto stream = std::make_shared<QueuedRequestStream>("r", [](const std::string&) {});
  ActiveRequest active(request, stream, tokenizer, 1);
  std::vector<int32_t> ids;
  for (unsigned char c : bytes) ids.push_back(c);
  ids.insert(ids.end(), extra.begin(), extra.end());
  Accepted out;
  for (int32_t id : ids) {
    SampleResult sample{id, -1.0f, {}};
    out.finish = active.accept(0, sample);
    if (out.finish) break;
  }
  std::vector<PendingOutput> delivered;
  active.deliver(delivered);
  for (const auto& pending : delivered)
    for (const auto& d : pending.output.deltas) {
      out.text += d.text;
      out.logprobs.insert(out.logprobs.end(), d.logprobs.begin(), d.logprobs.end());
    }
  return out;
}

std::string joined(const std::vector<TokenLogprob>& logprobs) {
  std::string out;
  for (const auto& lp : logprobs) out += lp.text;
  return out;
}

TEST(ActiveRequestLogprobs, SplitCharactersBelongToTheTokenCompletingThem) {
  // "幸" is E5 B9 B8: three tokens, the last carrying the character; the special token adds
  // nothing to the text.
  const Accepted a = accept_all("a\xE5\xB9\xB8" "b", 10, {257, 'c'});
  ASSERT_EQ(a.logprobs.size(), 7u);
  EXPECT_EQ(a.text, "a\xE5\xB9\xB8" "bc");
  EXPECT_EQ(a.logprobs[1].text, "");
  EXPECT_EQ(a.logprobs[2].text, "");
  EXPECT_EQ(a.logprobs[3].text, "\xE5\xB9\xB8");
  EXPECT_EQ(a.logprobs[5].text, "");
  EXPECT_EQ(joined(a.logprobs), a.text);
}

TEST(ActiveRequestLogprobs, ACharacterCutOffByLengthEndsInTheLastToken) {
  // max_tokens ends the choice inside a character: the engine flushes the held-back byte
  // (as U+FFFD) into the text, and the last entry carries it too.
  const Accepted a = accept_all("a\xE5\xB9\xB8", 3);
  ASSERT_EQ(a.finish, FinishReason::Length);
  ASSERT_EQ(a.logprobs.size(), 3u);
  EXPECT_EQ(a.text, "a\xEF\xBF\xBD");
  EXPECT_EQ(joined(a.logprobs), a.text);
}

}  // namespace
}  // namespace strata
