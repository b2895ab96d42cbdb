// Temperature / top-k / top-p / min-p against a reference that computes the full softmax,
// sorts the whole vocabulary and filters as Hugging Face's warpers do.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "sampling/truncation.h"

namespace strata {
namespace {

// token -> probability after filtering and renormalisation.
std::map<int32_t, double> reference_distribution(const std::vector<float>& logits, const TruncationParams& p) {
  const size_t n = logits.size();
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  size_t keep = n;
  if (p.top_k > 0) keep = std::min(keep, static_cast<size_t>(p.top_k));
  auto probs_of = [&](size_t count) {
    std::vector<double> pr(count);
    double mx = logits[order[0]] / static_cast<double>(p.temperature), z = 0;
    for (size_t i = 0; i < count; ++i) z += pr[i] = std::exp(logits[order[i]] / static_cast<double>(p.temperature) - mx);
    for (auto& v : pr) v /= z;
    return pr;
  };
  if (p.top_p < 1.0f) {
    auto pr = probs_of(keep);
    double cum = 0;
    for (size_t i = 0; i < keep; ++i) {
      cum += pr[i];
      if (cum >= p.top_p) { keep = i + 1; break; }
    }
  }
  auto pr = probs_of(keep);
  std::map<int32_t, double> dist;
  for (size_t i = 0; i < keep; ++i)
    if (pr[i] >= p.min_p * pr[0]) dist[order[i]] = pr[i];
  double z = 0;
  for (auto& [t, v] : dist) z += v;
  for (auto& [t, v] : dist) v /= z;
  return dist;
}

std::map<int32_t, double> actual_distribution(const std::vector<float>& logits, const TruncationParams& p) {
  std::vector<Candidate> c;
  std::vector<double> w;
  truncate_candidates(logits, p, c, w);
  double z = std::accumulate(w.begin(), w.end(), 0.0);
  std::map<int32_t, double> dist;
  for (size_t i = 0; i < c.size(); ++i) dist[c[i].token] = w[i] / z;
  return dist;
}

void expect_same(const std::map<int32_t, double>& a, const std::map<int32_t, double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    EXPECT_EQ(ia->first, ib->first);
    EXPECT_NEAR(ia->second, ib->second, 2e-5);  // logits divided by T in float
  }
}

std::vector<float> random_logits(size_t n, uint32_t seed, float scale) {
  std::mt19937 gen(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(gen() % 20000) / 20000.0f * scale - scale / 2;
  return v;
}

TEST(Truncation, MatchesReferenceOverParameterGrid) {
  for (size_t vocab : {5u, 37u, 1000u, 20000u}) {
    for (float scale : {2.0f, 12.0f, 40.0f}) {
      const auto logits = random_logits(vocab, static_cast<uint32_t>(vocab * 7 + scale), scale);
      for (float temp : {0.3f, 1.0f, 1.7f})
        for (int top_k : {-1, 1, 3, 50})
          for (float top_p : {1.0f, 0.9f, 0.5f, 0.05f})
            for (float min_p : {0.0f, 0.05f, 0.3f}) {
              const TruncationParams p{temp, top_k, top_p, min_p};
              SCOPED_TRACE(testing::Message() << "vocab " << vocab << " scale " << scale << " T " << temp
                                              << " k " << top_k << " p " << top_p << " min_p " << min_p);
              expect_same(actual_distribution(logits, p), reference_distribution(logits, p));
            }
    }
  }
}

// The draw walks the candidates in order, so top-p must leave them most likely first (ties
// by lower token), whichever of its growth steps (a first partial sort, partitions, the
// whole rest) built the prefix: flat rows of Llama 3's vocabulary need all of them.
TEST(Truncation, NucleusCandidatesComeMostLikelyFirst) {
  for (float scale : {0.5f, 3.0f, 40.0f}) {
    for (float top_p : {0.95f, 0.5f}) {
      auto logits = random_logits(128256, static_cast<uint32_t>(scale * 10 + top_p * 100), scale);
      std::fill(logits.begin() + 1000, logits.begin() + 1010, logits[17]);  // ties
      std::vector<Candidate> c;
      std::vector<double> w;
      truncate_candidates(logits, TruncationParams{0.8f, -1, top_p, 0.0f}, c, w);
      SCOPED_TRACE(testing::Message() << "scale " << scale << " top_p " << top_p << ", " << c.size() << " kept");
      ASSERT_FALSE(c.empty());
      for (size_t i = 1; i < c.size(); ++i)
        ASSERT_TRUE(c[i - 1].logit > c[i].logit || (c[i - 1].logit == c[i].logit && c[i - 1].token < c[i].token))
            << "candidates " << i - 1 << " and " << i;
      expect_same(actual_distribution(logits, TruncationParams{0.8f, -1, top_p, 0.0f}),
                  reference_distribution(logits, TruncationParams{0.8f, -1, top_p, 0.0f}));
    }
  }
}

TEST(Truncation, NegativeInfinityNeverChosen) {
  std::vector<float> logits = {-INFINITY, 1.0f, -INFINITY, 0.5f};
  auto d = actual_distribution(logits, {1.0f, -1, 1.0f, 0.0f});
  EXPECT_EQ(d.count(0) ? d[0] : 0.0, 0.0);
  std::vector<double> w = {0.0, 1.0, 0.0, 2.0};
  for (double u : {0.0, 0.3, 0.34, 0.99, 0.999999999}) {
    const size_t i = draw_index(w, u);
    EXPECT_TRUE(i == 1 || i == 3);
  }
}

TEST(Truncation, ArgmaxTakesLowestIndexAmongTies) {
  std::vector<float> v = {1.0f, 3.0f, 3.0f, -2.0f};
  EXPECT_EQ(argmax(v), 1);
}

}  // namespace
}  // namespace strata
