#include <gtest/gtest.h>

#include <random>

#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/match.hpp"

namespace {

std::vector<float> random_unit(std::mt19937& rng, int dim = 512) {
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> v(static_cast<std::size_t>(dim));
  for (auto& x : v) x = n(rng);
  vlrface::l2_normalise(v);
  return v;
}

// A probe at a chosen cosine to `base`: cos * base + sin * (unit vector orthogonal to base).
std::vector<float> at_cosine(const std::vector<float>& base, float c, std::mt19937& rng) {
  auto r = random_unit(rng, static_cast<int>(base.size()));
  float d = 0;
  for (std::size_t i = 0; i < r.size(); ++i) d += r[i] * base[i];
  for (std::size_t i = 0; i < r.size(); ++i) r[i] -= d * base[i];
  vlrface::l2_normalise(r);
  const float s = std::sqrt(1 - c * c);
  std::vector<float> out(base.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = c * base[i] + s * r[i];
  return out;
}

}  // namespace

TEST(Match, FindsTheRightPersonAmongManyAndRanksTopK) {
  std::mt19937 rng(7);
  std::vector<vlrface::PersonTemplate> t;
  for (int i = 0; i < 1000; ++i) t.push_back({"p" + std::to_string(i), random_unit(rng)});
  const vlrface::Matcher m(t);
  const auto probe = at_cosine(t[417].embedding, 0.6f, rng);
  const auto r = m.match(probe, {.top_k = 3, .threshold = 0.3f});
  ASSERT_TRUE(r.name);
  EXPECT_EQ(*r.name, "p417");
  EXPECT_NEAR(r.similarity, 0.6f, 1e-4);
  ASSERT_EQ(r.top.size(), 3u);
  EXPECT_GE(r.top[0].similarity, r.top[1].similarity);
  EXPECT_GE(r.top[1].similarity, r.top[2].similarity);
}

TEST(Match, BelowThresholdIsUnknownButKeepsCandidates) {
  std::mt19937 rng(8);
  std::vector<vlrface::PersonTemplate> t{{"a", random_unit(rng)}, {"b", random_unit(rng)}};
  const vlrface::Matcher m(t);
  const auto probe = at_cosine(t[0].embedding, 0.25f, rng);
  const auto r = m.match(probe, {.top_k = 5, .threshold = 0.3f});
  EXPECT_FALSE(r.name);
  EXPECT_NEAR(r.similarity, 0.25f, 0.05f);
  EXPECT_EQ(r.top.size(), 2u);  // top_k larger than the gallery
  EXPECT_TRUE(m.match(probe, {.top_k = 1, .threshold = 0.2f}).name);
}

TEST(Match, UnnormalisedInputsAreNormalised) {
  std::vector<vlrface::PersonTemplate> t{{"a", {3, 0, 0}}, {"b", {0, 5, 0}}};
  const vlrface::Matcher m(t);
  const std::vector<float> probe{0, 10, 1e-3f};
  EXPECT_EQ(*m.match(probe, {.top_k = 1, .threshold = 0.5f}).name, "b");
  EXPECT_NEAR(*m.similarity_to(probe, "b"), 1.0f, 1e-4);
  EXPECT_FALSE(m.similarity_to(probe, "zed"));
}

TEST(Match, EmptyGalleryAndDimensionErrors) {
  const vlrface::Matcher empty;
  EXPECT_FALSE(empty.match(std::vector<float>(512, 1.f)).name);
  std::vector<vlrface::PersonTemplate> bad{{"a", {1, 0}}, {"b", {1, 0, 0}}};
  EXPECT_THROW(vlrface::Matcher{bad}, vlrface::Error);
  const vlrface::Matcher m(std::vector<vlrface::PersonTemplate>{{"a", {1, 0}}});
  EXPECT_THROW(m.match(std::vector<float>{1, 0, 0}), vlrface::Error);
}

TEST(Match, CosineHelper) {
  EXPECT_NEAR(vlrface::cosine(std::vector<float>{1, 0}, std::vector<float>{1, 1}), 0.70710678f,
              1e-6);
  EXPECT_EQ(vlrface::cosine(std::vector<float>{0, 0}, std::vector<float>{1, 1}), 0.f);
}

// A matcher built row by row (as the live engine builds it from the gallery) scores exactly as
// one built from the whole vector; rows are normalised and a length change is refused.
TEST(Match, BuiltRowByRowEqualsBuiltAtOnce) {
  std::mt19937 rng(11);
  std::vector<vlrface::PersonTemplate> t;
  for (int i = 0; i < 300; ++i) t.push_back({"p" + std::to_string(i), random_unit(rng, 64)});
  t[5].embedding[0] += 3;  // not unit length
  const vlrface::Matcher whole(t);
  vlrface::Matcher rows;
  rows.reserve(t.size());
  for (const auto& p : t) rows.add(p.name, p.embedding);
  EXPECT_EQ(rows.size(), whole.size());
  EXPECT_EQ(rows.dim(), 64);
  for (int k = 0; k < 20; ++k) {
    const auto probe = at_cosine(t[static_cast<std::size_t>(k * 13)].embedding, 0.5f, rng);
    const auto a = whole.match(probe, {.top_k = 5});
    const auto b = rows.match(probe, {.top_k = 5});
    ASSERT_EQ(a.top.size(), b.top.size());
    for (std::size_t i = 0; i < a.top.size(); ++i) {
      EXPECT_EQ(a.top[i].name, b.top[i].name);
      EXPECT_EQ(a.top[i].similarity, b.top[i].similarity);
    }
  }
  EXPECT_NEAR(*rows.similarity_to(t[5].embedding, "p5"), 1.0f, 1e-5);
  EXPECT_THROW(rows.add("short", std::vector<float>(63, 0.1f)), vlrface::Error);
  EXPECT_EQ(rows.size(), whole.size()) << "a refused row is not added";
  vlrface::Matcher unreserved;  // no reserve(): still works
  unreserved.add("a", std::vector<float>{1, 0});
  unreserved.add("b", std::vector<float>{0, 2});
  EXPECT_EQ(*unreserved.match(std::vector<float>{0, 1}).name, "b");
}
