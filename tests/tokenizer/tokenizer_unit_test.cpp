// Focused tests: UTF-8 replacement, Unicode normalization, special-token parsing,
// incremental detokenization, loading errors and encode speed.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <filesystem>

#include "core/error.h"
#include "golden_corpus.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_data.h"
#include "tokenizer/utf8.h"
#include "../sanitizer_slowdown.h"

namespace strata {
namespace {

const std::string kHf = std::string(STRATA_SHARED_DIR) + "/fixtures/tokenizers/hf/";

const Tokenizer& qwen3() {
  static const auto tok = Tokenizer::load(kHf + "qwen3");  // a directory holding tokenizer.json
  return *tok;
}
const Tokenizer& llama2() {
  static const auto tok = Tokenizer::load(kHf + "llama2/tokenizer.json");
  return *tok;
}

// Expected values: Python's bytes.decode("utf-8", errors="replace").
TEST(Utf8Test, ReplacesMaximalSubpartsLikePython) {
  EXPECT_EQ(utf8::sanitize("abc"), "abc");
  EXPECT_EQ(utf8::sanitize("\xff"), "\uFFFD");
  EXPECT_EQ(utf8::sanitize("\xe2\x82("), "\uFFFD(");               // truncated 3-byte: one U+FFFD
  EXPECT_EQ(utf8::sanitize("\xed\xa0\x80"), "\uFFFD\uFFFD\uFFFD");  // surrogate: one per byte
  EXPECT_EQ(utf8::sanitize("\xc0\xaf"), "\uFFFD\uFFFD");            // overlong
  EXPECT_EQ(utf8::sanitize("\xf0\x9f\x98"), "\uFFFD");
  EXPECT_EQ(utf8::sanitize("\xf4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");
}

// Expected values: Python's unicodedata.normalize.
TEST(UnicodeTest, NormalizationMatchesUnicodedata) {
  EXPECT_EQ(unicode::nfc("cafe\u0301"), "caf\u00e9");
  EXPECT_EQ(unicode::nfd("\u00c5"), "A\u030a");
  EXPECT_EQ(unicode::nfc("\u212b"), "\u00c5");                        // singleton decomposition
  EXPECT_EQ(unicode::nfc("\u1e9b\u0323"), "\u1e9b\u0323");            // from UAX #15
  EXPECT_EQ(unicode::nfd("\u1e9b\u0323"), "\u017f\u0323\u0307");
  EXPECT_EQ(unicode::nfc("\u1100\u1161\u11a8"), "\uac01");            // Hangul L V T
  EXPECT_EQ(unicode::nfc("a\u0301\u0323"), "\u1ea1\u0301");           // reordered marks
  EXPECT_EQ(unicode::lowercase("ÄÖÜ ΑΒΓ İ"), "äöü αβγ i\u0307");
  EXPECT_EQ(unicode::lowercase("ΟΔΟΣ ΚΑΙ Σ ΑΣ1 AΣb"), "οδος και σ ας1 aσb");  // final sigma
}

TEST(SpecialTokensTest, ParseSpecialControlsRecognition) {
  const auto& tok = qwen3();
  const auto im_start = tok.token_id("<|im_start|>");
  ASSERT_TRUE(im_start.has_value());
  EXPECT_TRUE(tok.is_special(*im_start));
  const auto parsed = tok.encode("<|im_start|>user", false, true);
  ASSERT_FALSE(parsed.empty());
  EXPECT_EQ(parsed.front(), *im_start);
  const auto plain = tok.encode("<|im_start|>user", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), *im_start), 0);
  EXPECT_EQ(tok.decode(plain, false), "<|im_start|>user");
}

TEST(SpecialTokensTest, Llama2AddsBosAndStripsLeadingSpaceOnDecode) {
  const auto& tok = llama2();
  EXPECT_TRUE(tok.special().add_bos);
  EXPECT_EQ(tok.bos_text(), "<s>");
  EXPECT_EQ(tok.eos_text(), "</s>");
  const auto ids = tok.encode("Hello world", true, true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), *tok.special().bos);
  EXPECT_EQ(tok.decode(ids, true), "Hello world");
}

TEST(SpecialTokensTest, ChatTemplateAndStopTokensComeFromConfig) {
  const auto& tok = qwen3();
  EXPECT_NE(tok.chat_template().find("im_start"), std::string::npos);
  const auto im_end = tok.token_id("<|im_end|>");
  ASSERT_TRUE(im_end.has_value());
  const auto& stops = tok.special().end_of_generation;
  EXPECT_NE(std::find(stops.begin(), stops.end(), *im_end), stops.end());
}

// Streaming must give exactly decode(ids) in total, and never a broken character.
void expect_incremental_matches(const Tokenizer& tok, const std::string& golden_name) {
  int mismatches = 0;
  std::string first;
  for (const auto& c : test::load_golden(golden_name)) {
    IncrementalDetokenizer detok(tok, false);
    std::string streamed;
    for (int32_t id : c.ids) {
      const std::string piece = detok.push(id);
      EXPECT_TRUE(utf8::is_valid(piece)) << test::escaped(piece);
      streamed += piece;
    }
    streamed += detok.flush();
    if (streamed != tok.decode(c.ids, false) && mismatches++ == 0) first = c.input;
  }
  EXPECT_EQ(mismatches, 0) << "first: '" << test::escaped(first) << "'";
}

TEST(IncrementalDetokenizerTest, ByteLevelStreamEqualsDecode) { expect_incremental_matches(qwen3(), "qwen3"); }
TEST(IncrementalDetokenizerTest, SentencePieceStreamEqualsDecode) { expect_incremental_matches(llama2(), "llama2"); }

// A byte-level decoder rewrites each token alone, so a stream decodes each new token by
// itself; SentencePiece's decoder strips the first token's space after fusing, so it does
// not. Where decodes_per_token() holds, decoding a list is joining its tokens' decodings
// (checked over the golden corpus, whose expected decodings come from Hugging Face).
TEST(IncrementalDetokenizerTest, PerTokenDecodingOnlyWhereTheDecoderAllowsIt) {
  EXPECT_TRUE(qwen3().decodes_per_token());
  EXPECT_FALSE(llama2().decodes_per_token());
  for (const auto& c : test::load_golden("qwen3")) {
    std::string joined;
    for (int32_t id : c.ids) joined += qwen3().decode_bytes(std::span(&id, 1), false);
    EXPECT_EQ(joined, qwen3().decode_bytes(c.ids, false)) << test::escaped(c.input);
  }
}

TEST(IncrementalDetokenizerTest, HoldsPartialCharacterUntilComplete) {
  const auto& tok = llama2();
  const auto ids = tok.encode("🦙", false, false);  // four byte-fallback tokens in Llama 2
  ASSERT_EQ(ids.size(), 5u);  // "▁" then <0xF0> <0x9F> <0x98> <0x80>
  IncrementalDetokenizer detok(tok, false);
  std::string out;
  for (size_t i = 0; i + 1 < ids.size(); ++i) out += detok.push(ids[i]);
  EXPECT_EQ(out, "");
  EXPECT_EQ(detok.push(ids.back()), "🦙");
  // A sequence cut short is flushed as U+FFFD.
  IncrementalDetokenizer cut(tok, false);
  cut.push(ids[0]);
  cut.push(ids[1]);
  EXPECT_EQ(cut.flush(), "\uFFFD");
}

TEST(LoadTest, ErrorsNameTheProblem) {
  EXPECT_THROW(Tokenizer::load("/nonexistent/tokenizer.json"), InvalidArgument);
  EXPECT_THROW(Tokenizer::load(std::string(STRATA_SHARED_DIR)), InvalidArgument);  // no tokenizer.json
}

TEST(PerformanceTest, EncodesTenThousandTokensQuickly) {
  std::string text;
  const auto corpus = test::load_corpus();
  for (size_t i = 0; text.size() < 60000; ++i) text += corpus[i % corpus.size()] + "\n";
  const auto& tok = qwen3();  // its word cache is nearly cold here: only a few words were seen
  const auto start = std::chrono::steady_clock::now();
  const auto ids = tok.encode(text, false, true);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(ids.size(), 10000u);
  std::printf("encode: %zu bytes -> %zu tokens in %.1f ms\n", text.size(), ids.size(), ms);
  // Target is well under 100 ms; the bound leaves room for slow CI and sanitizer builds.
  EXPECT_LT(ms, 500.0 * testing::kSanitizerSlowdown);
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// Byte-level BPE without a normalizer loses nothing: decode(encode(x)) is x with invalid
// UTF-8 replaced, for any bytes, special-token text included.
TEST(RoundTripTest, ByteLevelDecodeInvertsEncodeOnRandomBytes) {
  const auto gpt2 = Tokenizer::load(std::string(STRATA_SHARED_DIR) + "/fixtures/tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf");
  const auto llama3 = Tokenizer::load(kHf + "llama3_1");
  std::mt19937 rng(1234);
  const std::string pieces[] = {"<|begin_of_text|>", "<|endoftext|>", " ", "\n", "\xC3\xA9", "\xF0\x9F\x98\x80", "ab"};
  for (int n = 0; n < 300; ++n) {
    std::string text;
    const int len = static_cast<int>(rng() % 40);
    for (int i = 0; i < len; ++i) {
      if (rng() % 3 == 0) text += pieces[rng() % std::size(pieces)];
      else text += static_cast<char>(rng() % 256);
    }
    for (const auto* tok : {gpt2.get(), llama3.get()}) {
      for (bool parse_special : {false, true}) {
        const auto ids = tok->encode(text, false, parse_special);
        ASSERT_EQ(tok->decode(ids, false), utf8::sanitize(text)) << test::escaped(text);
      }
    }
  }
}

}  // namespace
}  // namespace strata
