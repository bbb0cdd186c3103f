// MatcherSync: a matcher kept in step with a gallery by reading only what changed must answer
// exactly as one built from the whole gallery, after every kind of change (enrolment, more faces,
// removal, rename, a change by another Gallery object), on SQLite and on a real PostgreSQL server.
// Synthetic embeddings: no model files.
#include <gtest/gtest.h>

#include <random>

#include "gallery_test_util.hpp"
#include "pg_cluster.hpp"
#include "vlrface/gallery.hpp"
#include "vlrface/match.hpp"
#include "vlrface/matcher_sync.hpp"

namespace vlrface {
namespace {

using namespace gallery_test;

Matcher built_whole(const Gallery& g) {
  Matcher m;
  g.for_each_template([&](PersonTemplate&& t) { m.add(t.name, t.embedding); });
  return m;
}

// The same top 5 (names and similarities) for probes near each person and for random ones.
void expect_same_answers(const Matcher& synced, const Gallery& g, unsigned seed) {
  const Matcher whole = built_whole(g);
  ASSERT_EQ(synced.size(), whole.size());
  std::vector<std::vector<float>> probes;
  g.for_each_template([&](PersonTemplate&& t) {
    auto p = t.embedding;
    const auto noise = random_embedding(seed++);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] += 0.5f * noise[i];
    probes.push_back(std::move(p));
  });
  for (int i = 0; i < 5; ++i) probes.push_back(random_embedding(1000 + seed + i));
  for (const auto& p : probes) {
    const MatchResult a = synced.match(p, {.top_k = 5, .threshold = 0.2f});
    const MatchResult b = whole.match(p, {.top_k = 5, .threshold = 0.2f});
    ASSERT_EQ(a.top.size(), b.top.size());
    for (std::size_t k = 0; k < a.top.size(); ++k) {
      EXPECT_EQ(a.top[k].name, b.top[k].name);
      EXPECT_NEAR(a.top[k].similarity, b.top[k].similarity, 1e-6);
    }
    EXPECT_EQ(a.name, b.name);
  }
}

// Every kind of change, each seen by a MatcherSync following `g` through `follower` (another
// Gallery object on the same store, as another process or node would be).
void follow_changes(Gallery& g, Gallery& follower) {
  MatcherSync sync;
  g.enroll("ana", {face(1), face(2)});
  g.enroll("bo", {face(3)});
  g.enroll("cy", {face(4)});
  auto u = sync.update(follower);
  EXPECT_TRUE(u.whole) << "the first update reads every template";
  EXPECT_EQ(u.added, 3u);
  expect_same_answers(*u.matcher, follower, 10);

  const auto before = u.matcher;
  u = sync.update(follower);
  EXPECT_EQ(u.matcher, before) << "nothing changed: the same matcher";
  EXPECT_EQ(u.added + u.removed, 0u);

  g.enroll("dee", {face(5)});  // a new person
  u = sync.update(follower);
  EXPECT_FALSE(u.whole);
  EXPECT_EQ(u.added, 1u);
  EXPECT_EQ(u.removed, 0u);
  EXPECT_EQ(before->size(), 3u) << "the matcher handed out before is not changed";
  EXPECT_TRUE(u.matcher->contains("dee"));
  expect_same_answers(*u.matcher, follower, 20);

  g.enroll("ana", {face(6)});  // more faces: a new template
  u = sync.update(follower);
  EXPECT_FALSE(u.whole);
  EXPECT_EQ(u.added, 1u);
  EXPECT_EQ(u.removed, 1u);
  expect_same_answers(*u.matcher, follower, 30);

  g.remove_person("bo");
  u = sync.update(follower);
  EXPECT_EQ(u.added, 0u);
  EXPECT_EQ(u.removed, 1u);
  EXPECT_FALSE(u.matcher->contains("bo"));
  expect_same_answers(*u.matcher, follower, 40);

  g.rename_person("cy", "cyd");
  u = sync.update(follower);
  EXPECT_FALSE(u.matcher->contains("cy"));
  EXPECT_TRUE(u.matcher->contains("cyd"));
  expect_same_answers(*u.matcher, follower, 50);

  // Most people changed at once: read whole.
  for (unsigned i = 0; i < 10; ++i) g.enroll("p" + std::to_string(i), {face(100 + i)});
  u = sync.update(follower);
  EXPECT_TRUE(u.whole);
  expect_same_answers(*u.matcher, follower, 60);

  // Everyone removed.
  for (const auto& p : g.people()) g.remove_person(p.name);
  u = sync.update(follower);
  EXPECT_EQ(u.matcher->size(), 0u);
}

TEST(MatcherSync, FollowsEveryKindOfChangeOnSqlite) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  Gallery follower(dir / "g.vlrg", kModelA);
  follow_changes(g, follower);
}

TEST(MatcherSync, FollowsEveryKindOfChangeOnPostgres) {
  vlrtest::PgCluster pg;
  Gallery g(pg.url(), kModelA);
  Gallery follower(pg.url(), kModelA);
  follow_changes(g, follower);
}

TEST(MatcherSync, TemplateVersionsChangeWithTheTemplateOnly) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  g.enroll("ana", {face(1)});
  g.enroll("bo", {face(2)});
  const auto v0 = g.template_versions();
  ASSERT_EQ(v0.size(), 2u);
  EXPECT_EQ(v0[0].name, "ana");
  EXPECT_EQ(v0[1].name, "bo");
  g.enroll("bo", {face(3)});
  const auto v1 = g.template_versions();
  EXPECT_EQ(v1[0].version, v0[0].version) << "ana's template did not change";
  EXPECT_NE(v1[1].version, v0[1].version) << "bo's did";
  // The templates of named people, with the same versions; unknown names are left out.
  std::vector<PersonTemplate> got;
  g.for_each_template_of({"bo", "nobody", "ana"},
                         [&](PersonTemplate&& t) { got.push_back(std::move(t)); });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].name, "bo");
  EXPECT_EQ(got[0].version, v1[1].version);
  EXPECT_EQ(got[1].name, "ana");
  expect_close(got[1].embedding, random_embedding(1));
}

// A bigger gallery under a random mix of changes: answers stay those of a whole rebuild.
TEST(MatcherSync, RandomChangesKeepTheAnswersOfAWholeRebuild) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  std::vector<Enrolment> people;
  for (unsigned i = 0; i < 300; ++i) people.push_back({"p" + std::to_string(i), {face(i)}});
  g.enroll_many(people);
  MatcherSync sync;
  sync.update(g);
  std::mt19937 rng(7);
  unsigned next = 1000;
  for (int round = 0; round < 8; ++round) {
    for (int k = 0; k < 5; ++k) {
      const auto all = g.people();
      const auto& victim = all[rng() % all.size()].name;
      switch (rng() % 3) {
        case 0: g.enroll("n" + std::to_string(next), {face(next)}); ++next; break;
        case 1: g.enroll(victim, {face(next++)}); break;
        default: g.remove_person(victim); break;
      }
    }
    const auto u = sync.update(g);
    EXPECT_FALSE(u.whole);
    expect_same_answers(*u.matcher, g, 5000 + round * 100);
  }
}

}  // namespace
}  // namespace vlrface
