// The int8-scan Matcher against plain references: a double-precision brute force written here and
// the float32 brute force (Float32Matcher) it replaced. Same people in the same order, the same
// similarities within 1e-4, on random galleries, near-ties, exact ties, added and removed rows.
// Synthetic embeddings only; no timing (figures belong to docs/BENCHMARKS.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <opencv2/core/utility.hpp>
#include <random>

#include "../../src/match_kernels.hpp"
#include "vlrface/match.hpp"
#include "vlrface/match_f32.hpp"
#include "match_test_util.hpp"

using namespace match_test;  // NOLINT: the helpers of every test here

TEST(MatchKernels, Int8RowsEqualThePlainLoopAtEveryLength) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> u(-127, 127);
  for (int n : {1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 511, 512, 513, 1024}) {
    std::vector<std::int8_t> p(static_cast<std::size_t>(n)), rows(static_cast<std::size_t>(n) * 5);
    for (auto& x : p) x = static_cast<std::int8_t>(u(rng));
    for (auto& x : rows) x = static_cast<std::int8_t>(u(rng));
    // The extremes: 127 * 127 and (-127) * (-127) side by side in a pair.
    p[0] = 127, rows[0] = 127;
    if (n > 1) p[1] = -127, rows[1] = -127;
    std::vector<std::int32_t> fast(5), plain(5);
    vlrface::detail::dot_i8_rows(p.data(), rows.data(), 5, n, fast.data());
    vlrface::detail::dot_i8_rows_scalar(p.data(), rows.data(), 5, n, plain.data());
    EXPECT_EQ(fast, plain) << "n = " << n << " path " << vlrface::detail::dot_i8_path();
  }
  std::vector<std::int8_t> all(512, -127), row(512, -127);
  std::int32_t out = 0;
  vlrface::detail::dot_i8_rows(all.data(), row.data(), 1, 512, &out);
  EXPECT_EQ(out, 127 * 127 * 512);
}

TEST(MatchQuantised, RandomGalleriesGiveTheReferenceTopFiveAndSimilarities) {
  std::mt19937 rng(21);
  int checked_by_name = 0, probes = 0;
  for (int dim : {512, 128, 100}) {
    const auto g = random_gallery(rng, 3000, dim);
    const vlrface::Matcher m(g);
    const vlrface::Float32Matcher f(g);
    std::uniform_int_distribution<std::size_t> pick(0, g.size() - 1);
    for (int t = 0; t < 40; ++t) {
      // Near a person (cosine 0.3..0.95) or a stranger.
      const auto probe =
          t % 4 == 3 ? random_vec(rng, dim) : near(g[pick(rng)].embedding, 0.3 + 0.016 * t, rng);
      const auto ref = reference(g, probe);
      const auto r = m.match(probe, {.top_k = 5, .threshold = 0.35f});
      const std::string what = "dim " + std::to_string(dim) + " probe " + std::to_string(t);
      checked_by_name += expect_same_top(r, ref, 5, what);
      ++probes;
      // The float32 path's answer: the same best person, and the same unknown/known decision.
      const auto b = f.match(probe, {.top_k = 5, .threshold = 0.35f});
      EXPECT_EQ(r.name.has_value(), b.name.has_value()) << what;
      EXPECT_NEAR(r.similarity, b.similarity, kTol) << what;
      if (std::abs(ref[0].sim - ref[1].sim) > 2 * kTol) {
        EXPECT_EQ(r.top[0].name, b.top[0].name) << what;
      }
    }
  }
  // Near-ties are rare: nearly every rank was compared by name.
  EXPECT_GT(checked_by_name, probes * 5 * 9 / 10);
}

TEST(MatchQuantised, OnlyAFewRowsAreRescored) {
  // The point of the int8 scan: the bound is tight enough that few rows need the exact score.
  std::mt19937 rng(5);
  const auto g = random_gallery(rng, 4000, 512);
  const vlrface::Matcher m(g);
  std::size_t most = 0;
  for (int t = 0; t < 20; ++t) {
    vlrface::MatchStats st;
    m.match(near(g[static_cast<std::size_t>(t * 97)].embedding, 0.7, rng), {.top_k = 5}, st);
    EXPECT_GE(st.rescored, 5u);
    most = std::max(most, st.rescored);
  }
  EXPECT_LT(most, g.size() / 20) << "more than 5% of the rows rescored";
}

TEST(MatchQuantised, ThresholdDecidesUnknownAsBefore) {
  std::mt19937 rng(8);
  const auto g = random_gallery(rng, 500, 512);
  const vlrface::Matcher m(g);
  const vlrface::Float32Matcher f(g);
  for (double c : {0.20, 0.30, 0.34, 0.36, 0.40, 0.80}) {
    const auto probe = near(g[42].embedding, c, rng);
    const double best = reference(g, probe)[0].sim;
    ASSERT_GT(std::abs(best - 0.35), 2 * kTol) << "probe too close to the threshold to judge";
    const auto r = m.match(probe, {.top_k = 3, .threshold = 0.35f});
    EXPECT_EQ(r.name.has_value(), best > 0.35) << c;
    EXPECT_EQ(r.name, f.match(probe, {.top_k = 3, .threshold = 0.35f}).name) << c;
    EXPECT_EQ(r.top.size(), 3u);  // the candidates stay, known or not
  }
}

TEST(MatchQuantised, ExactTiesAreOrderedByNameWhateverTheRowOrder) {
  std::mt19937 rng(9);
  const auto twin = random_vec(rng, 64);
  auto g = random_gallery(rng, 50, 64);
  g.insert(g.begin() + 10, {"zed", twin});
  g.insert(g.begin() + 20, {"amy", twin});
  g.push_back({"bob", twin});
  const auto probe = near(twin, 0.8, rng);
  const vlrface::Matcher m(g);
  auto r = m.match(probe, {.top_k = 4});
  ASSERT_EQ(r.top.size(), 4u);
  EXPECT_EQ(r.top[0].name, "amy");
  EXPECT_EQ(r.top[1].name, "bob");
  EXPECT_EQ(r.top[2].name, "zed");
  EXPECT_EQ(r.top[0].similarity, r.top[2].similarity);
  EXPECT_NEAR(r.top[0].similarity, 0.8, kTol);
  std::reverse(g.begin(), g.end());
  const vlrface::Matcher reversed(g);
  const auto r2 = reversed.match(probe, {.top_k = 4});
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r2.top[i].name, r.top[i].name);
    EXPECT_EQ(r2.top[i].similarity, r.top[i].similarity);
  }
}

TEST(MatchQuantised, EmptyGalleryAndEverybodyRemoved) {
  const vlrface::Matcher empty;
  const auto r = empty.match(std::vector<float>(512, 0.1f));
  EXPECT_FALSE(r.name);
  EXPECT_TRUE(r.top.empty());
  vlrface::Matcher m;
  m.add("a", std::vector<float>{1, 0, 0});
  m.add("b", std::vector<float>{0, 1, 0});
  EXPECT_EQ(m.remove("a"), 1u);
  EXPECT_EQ(m.remove("a"), 0u);
  EXPECT_EQ(*m.match(std::vector<float>{1, 1, 0}, {.top_k = 5, .threshold = 0.5f}).name, "b");
  EXPECT_EQ(m.remove("b"), 1u);
  EXPECT_EQ(m.size(), 0u);
  EXPECT_FALSE(m.match(std::vector<float>{1, 1, 0}).name);
  EXPECT_TRUE(m.match(std::vector<float>{1, 1, 0}).top.empty());
  m.add("c", std::vector<float>{0, 0, 2});  // the same length still, after all were removed
  EXPECT_EQ(*m.match(std::vector<float>{0, 0.1f, 1}).name, "c");
  EXPECT_EQ(m.template_bytes(), 3u * 2 + 8);
}

TEST(MatchQuantised, AddAndRemoveAnswerAsAMatcherBuiltFromTheRest) {
  std::mt19937 rng(13);
  auto g = random_gallery(rng, 2000, 512);
  vlrface::Matcher m(g);
  // A follower applying removals and enrolments one at a time.
  std::vector<PersonTemplate> rest;
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (i % 7 == 3) {
      EXPECT_EQ(m.remove(g[i].name), 1u);
    } else {
      rest.push_back(g[i]);
    }
  }
  for (int i = 0; i < 30; ++i) {
    rest.push_back({"new" + std::to_string(i), random_vec(rng, 512)});
    m.add(rest.back().name, rest.back().embedding);
  }
  const vlrface::Matcher fresh(rest);
  ASSERT_EQ(m.size(), fresh.size());
  EXPECT_EQ(m.template_bytes(), fresh.template_bytes());
  for (int t = 0; t < 30; ++t) {
    const auto& who = rest[static_cast<std::size_t>(t * 61) % rest.size()];
    const auto probe = near(who.embedding, 0.6, rng);
    const auto a = m.match(probe, {.top_k = 5});
    const auto b = fresh.match(probe, {.top_k = 5});
    ASSERT_EQ(a.top.size(), b.top.size());
    for (std::size_t i = 0; i < a.top.size(); ++i) {
      EXPECT_EQ(a.top[i].name, b.top[i].name);
      EXPECT_EQ(a.top[i].similarity, b.top[i].similarity);
    }
    expect_same_top(a, reference(rest, probe), 5, "after add/remove, probe " + std::to_string(t));
  }
  // A removed person is no longer found, not even by name.
  EXPECT_FALSE(m.similarity_to(g[3].embedding, g[3].name));
  EXPECT_NE(m.match(g[3].embedding, {.top_k = 1}).top[0].name, g[3].name);
}

// Rows placed so that their first-pass scores are closer to each other than the first pass's
// error: only the exact rescoring can order them, and every one of them must reach it. They come
// in rising order, the worst case for the running k-th bound.
TEST(MatchQuantised, AdversarialNearDuplicatesAroundTheTopKMargin) {
  std::mt19937 rng(17);
  const int dim = 512;
  auto g = random_gallery(rng, 3000, dim);
  const auto probe = random_vec(rng, dim);
  const auto p = unit(probe);
  // 60 people at cosines 0.6000, 0.6003, ... to the probe: steps of 3e-4 are well inside the
  // first pass's error bound (about 0.015 at 512-d) and far above the rescoring's (about 1e-6).
  std::vector<PersonTemplate> close;
  for (int i = 0; i < 60; ++i) {
    close.push_back({"close" + std::to_string(1000 + i), [&] {
                       const auto v =
                           near(std::vector<float>(p.begin(), p.end()), 0.6 + 3e-4 * i, rng);
                       return v;
                     }()});
  }
  for (const auto& c : close) g.push_back(c);
  const vlrface::Matcher m(g);
  const auto ref = reference(g, probe);
  for (int k : {1, 5, 20}) {
    vlrface::MatchStats st;
    const auto r = m.match(probe, {.top_k = k, .threshold = 0.35f}, st);
    EXPECT_EQ(expect_same_top(r, ref, static_cast<std::size_t>(k), "k " + std::to_string(k)), k);
    EXPECT_EQ(*r.name, "close1059");
    EXPECT_GE(st.rescored, static_cast<std::size_t>(k));
  }
}

TEST(MatchQuantised, UnusualRowsZeroOneHotAndUnnormalised) {
  std::vector<PersonTemplate> g{{"zero", std::vector<float>(40, 0.f)},
                                {"hot",
                                 [] {
                                   std::vector<float> v(40, 0.f);
                                   v[7] = 5.f;
                                   return v;
                                 }()},
                                {"big", std::vector<float>(40, 1e6f)},
                                {"tiny", std::vector<float>(40, -1e-20f)}};
  const vlrface::Matcher m(g);
  std::mt19937 rng(2);
  for (int t = 0; t < 20; ++t) {
    const auto probe = random_vec(rng, 40, t % 2 ? 1e-3f : 1e3f);
    expect_same_top(m.match(probe, {.top_k = 4}), reference(g, probe), 4, std::to_string(t));
  }
  EXPECT_NEAR(*m.similarity_to(std::vector<float>(40, 3.f), "big"), 1.0, kTol);
  EXPECT_NEAR(*m.similarity_to(std::vector<float>(40, 3.f), "tiny"), -1.0, kTol);
  EXPECT_EQ(*m.similarity_to(std::vector<float>(40, 3.f), "zero"), 0.f);
  // A zero probe: every similarity 0, ties by name.
  const auto z = m.match(std::vector<float>(40, 0.f), {.top_k = 4});
  EXPECT_EQ(z.top[0].name, "big");
  EXPECT_EQ(z.top[0].similarity, 0.f);
}

TEST(MatchQuantised, ParallelScanAnswersAsOneThread) {
  // 9,000 x 512 is above the size scanned in stripes when more than one thread is allowed.
  std::mt19937 rng(31);
  const auto g = random_gallery(rng, 9000, 512);
  const vlrface::Matcher m(g);
  const int before = cv::getNumThreads();
  std::vector<std::vector<float>> probes;
  for (int t = 0; t < 10; ++t)
    probes.push_back(near(g[static_cast<std::size_t>(t * 800)].embedding, 0.5, rng));
  std::vector<vlrface::MatchResult> one, two;
  cv::setNumThreads(1);
  for (const auto& p : probes) one.push_back(m.match(p, {.top_k = 5}));
  cv::setNumThreads(3);
  for (const auto& p : probes) two.push_back(m.match(p, {.top_k = 5}));
  cv::setNumThreads(before);
  for (std::size_t t = 0; t < probes.size(); ++t) {
    ASSERT_EQ(one[t].top.size(), two[t].top.size());
    for (std::size_t i = 0; i < one[t].top.size(); ++i) {
      EXPECT_EQ(one[t].top[i].name, two[t].top[i].name);
      EXPECT_EQ(one[t].top[i].similarity, two[t].top[i].similarity);
    }
    EXPECT_EQ(*one[t].name, g[t * 800].name);
  }
}
