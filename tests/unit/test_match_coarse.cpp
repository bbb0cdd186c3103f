// The Matcher's 4-bit first pass (vlrface/match_coarse.hpp) against plain references: the
// kernels against a scalar loop, the rotation against the identity it must preserve, the bound
// against the true cosines of many pairs, and the whole search against a double-precision brute
// force. Synthetic embeddings only; no timing (figures belong to docs/BENCHMARKS.md).
#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/core/utility.hpp>
#include <random>

#include "../../src/match_kernels.hpp"
#include "match_test_util.hpp"
#include "vlrface/match.hpp"
#include "vlrface/match_coarse.hpp"

using namespace match_test;  // NOLINT: the helpers of every test here
using vlrface::detail::CoarsePlane;

TEST(MatchKernels, FourBitRowsEqualThePlainLoop) {
  std::mt19937 rng(8);
  std::uniform_int_distribution<int> u(-127, 127), nib(0, 15);
  for (int n : {64, 128, 192, 512, 1024}) {
    std::vector<std::int8_t> p(static_cast<std::size_t>(n));
    for (auto& x : p) x = static_cast<std::int8_t>(u(rng));
    const int count = 7;
    std::vector<std::uint8_t> values(static_cast<std::size_t>(n) * count);
    for (auto& x : values) x = static_cast<std::uint8_t>(nib(rng));
    values[0] = 15, p[0] = -127;  // the extremes side by side
    values[1] = 15, p[1] = 127;
    std::vector<std::uint8_t> rows(values.size() / 2);
    for (int r = 0; r < count; ++r) {
      vlrface::detail::pack_u4(values.data() + r * n, n, rows.data() + r * n / 2);
    }
    std::vector<std::int32_t> fast(count), scalar(count), plain(count);
    vlrface::detail::dot_u4_rows(p.data(), rows.data(), count, n, fast.data());
    vlrface::detail::dot_u4_rows_scalar(p.data(), rows.data(), count, n, scalar.data());
    for (int r = 0; r < count; ++r) {  // straight from the unpacked values
      for (int i = 0; i < n; ++i) plain[r] += p[i] * values[static_cast<std::size_t>(r * n + i)];
    }
    EXPECT_EQ(scalar, plain) << "n = " << n;
    EXPECT_EQ(fast, plain) << "n = " << n << " path " << vlrface::detail::dot_u4_path();
  }
}

TEST(MatchCoarse, RotationKeepsLengthsAndCosines) {
  std::mt19937 rng(4);
  for (int dim : {512, 200, 128}) {
    const CoarsePlane c(dim);
    EXPECT_GE(c.padded(), dim);
    for (int t = 0; t < 20; ++t) {
      const auto a = random_vec(rng, dim), b = random_vec(rng, dim);
      std::vector<float> ra(static_cast<std::size_t>(c.padded())), rb(ra.size());
      c.rotate(a.data(), ra.data());
      c.rotate(b.data(), rb.data());
      double dot = 0, rdot = 0, na = 0, rna = 0;
      for (int i = 0; i < dim; ++i) dot += double(a[i]) * b[i], na += double(a[i]) * a[i];
      for (std::size_t i = 0; i < ra.size(); ++i) rdot += double(ra[i]) * rb[i], rna += double(ra[i]) * ra[i];
      EXPECT_NEAR(rna / na, 1.0, 1e-5) << dim;
      EXPECT_NEAR(rdot, dot, 1e-4 * std::sqrt(na) * dim) << dim;
    }
  }
}

TEST(MatchCoarse, BoundHoldsOnEveryPairAndIsTightEnoughToPrune) {
  // 1,500 rows x 60 probes (a third of them close to a row): |cosine - approx| <= bound on all
  // 90,000 pairs, and the bound is far below Cauchy-Schwarz's |e| (~0.16).
  std::mt19937 rng(12);
  const int dim = 512;
  const auto g = random_gallery(rng, 1500, dim);
  CoarsePlane c(dim);
  std::vector<std::vector<double>> rows;
  for (const auto& t : g) {
    const auto u = unit(t.embedding);
    rows.push_back(u);
    const std::vector<float> f(u.begin(), u.end());
    c.add(f.data());
  }
  double worst_ratio = 0, mean_bound = 0;
  std::size_t pairs = 0;
  std::vector<float> approx(rows.size()), bound(rows.size());
  for (int t = 0; t < 60; ++t) {
    const auto probe = t % 3 == 0 ? near(g[static_cast<std::size_t>(t * 20)].embedding, 0.8, rng)
                                  : random_vec(rng, dim);
    const auto pu = unit(probe);
    const std::vector<float> pf(pu.begin(), pu.end());
    c.score(c.prepare(pf.data()), 0, rows.size(), approx.data(), bound.data());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      double cosine = 0;
      for (int j = 0; j < dim; ++j) cosine += pu[static_cast<std::size_t>(j)] * rows[i][static_cast<std::size_t>(j)];
      const double err = std::abs(cosine - approx[i]);
      ASSERT_LE(err, bound[i]) << "probe " << t << " row " << i;
      worst_ratio = std::max(worst_ratio, err / bound[i]);
      mean_bound += bound[i];
      ++pairs;
    }
  }
  mean_bound /= static_cast<double>(pairs);
  EXPECT_LT(mean_bound, 0.09);
  EXPECT_GT(worst_ratio, 0.1) << "a bound this loose would keep far too many rows";
}

TEST(MatchCoarse, SearchGivesTheReferenceTopAndSkipsMostRows) {
  std::mt19937 rng(23);
  const int dim = 512;
  auto g = random_gallery(rng, 6000, dim);
  // Near-duplicates around one probe's top-5 margin, as in the int8 test.
  const auto crowd = random_vec(rng, dim);
  const auto cu = unit(crowd);
  for (int i = 0; i < 40; ++i) {
    g.push_back({"crowd" + std::to_string(100 + i),
                 near(std::vector<float>(cu.begin(), cu.end()), 0.5 + 5e-4 * i, rng)});
  }
  const vlrface::Matcher m(g);
  std::uniform_int_distribution<std::size_t> pick(0, 5999);
  std::size_t most_refined = 0;
  for (int t = 0; t < 30; ++t) {
    const auto probe = t == 0       ? crowd
                       : t % 3 == 0 ? random_vec(rng, dim)
                                    : near(g[pick(rng)].embedding, 0.3 + 0.02 * t, rng);
    vlrface::MatchStats st;
    const auto r = m.match(probe, {.top_k = 5, .threshold = 0.35f, .scan = vlrface::ScanMode::kCoarse}, st);
    ASSERT_TRUE(st.coarse);
    expect_same_top(r, reference(g, probe), 5, "probe " + std::to_string(t));
    EXPECT_GE(st.refined, 5u);
    EXPECT_GE(st.refined, st.rescored);
    most_refined = std::max(most_refined, st.refined);
    // The int8 path's answer, exactly.
    const auto b = m.match(probe, {.top_k = 5, .threshold = 0.35f, .scan = vlrface::ScanMode::kInt8});
    ASSERT_EQ(r.top.size(), b.top.size());
    for (std::size_t i = 0; i < r.top.size(); ++i) {
      EXPECT_EQ(r.top[i].name, b.top[i].name) << t;
      EXPECT_EQ(r.top[i].similarity, b.top[i].similarity) << t;
    }
  }
  // Random 512-d rows are the hard case: every cosine within a few 0.04 of 0, against a bound
  // of ~0.07; at 6,000 rows about a third pass, fewer in larger galleries (the k-th best rises).
  EXPECT_LT(most_refined, g.size() / 2) << "the 4-bit pass kept more than half of the rows";
}

TEST(MatchCoarse, LargeGalleriesChooseItAndRemovalsKeepItConsistent) {
  // 8,192 x 512 values is where kAuto turns to the 4-bit pass; removing rows moves the last row
  // into the freed place in both planes.
  std::mt19937 rng(29);
  const auto g = random_gallery(rng, 8300, 512);
  vlrface::Matcher m(g);
  vlrface::MatchStats st;
  const auto probe = near(g[4000].embedding, 0.6, rng);
  EXPECT_EQ(*m.match(probe, {.top_k = 3}, st).name, g[4000].name);
  EXPECT_TRUE(st.coarse);
  std::unordered_set<std::string> doomed;
  for (int i = 0; i < 300; ++i) doomed.insert(g[static_cast<std::size_t>(i * 7)].name);
  ASSERT_EQ(m.remove(doomed), 300u);
  std::vector<PersonTemplate> rest;
  for (const auto& t : g) {
    if (!doomed.count(t.name)) rest.push_back(t);
  }
  for (int t = 0; t < 10; ++t) {
    const auto q = near(rest[static_cast<std::size_t>(t * 700)].embedding, 0.5, rng);
    const auto r = m.match(q, {.top_k = 5, .scan = vlrface::ScanMode::kCoarse});
    expect_same_top(r, reference(rest, q), 5, "after removal " + std::to_string(t));
  }
  EXPECT_FALSE(m.contains(g[7].name));
}

TEST(MatchCoarse, ShortTemplatesKeepTheInt8Pass) {
  std::mt19937 rng(30);
  const auto g = random_gallery(rng, 500, 64);
  const vlrface::Matcher m(g);
  vlrface::MatchStats st;
  const auto probe = random_vec(rng, 64);
  const auto r = m.match(probe, {.top_k = 5, .scan = vlrface::ScanMode::kCoarse}, st);
  EXPECT_FALSE(st.coarse);
  expect_same_top(r, reference(g, probe), 5, "dim 64");
}
