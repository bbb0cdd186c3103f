// Tracker: box overlap maths, identity of tracks across frames, expiry, and the name vote.
#include <gtest/gtest.h>

#include "vlrface/error.hpp"
#include "vlrface/track.hpp"

namespace {

using vlrface::Observation;
using vlrface::Tracker;

Observation named(const std::string& n, float sim = 0.6f) {
  return {n, sim};
}
Observation unknown(float sim = 0.1f) {
  return {std::nullopt, sim};
}

// Feeds one face at a fixed place with the given per-frame decisions; returns its last state.
vlrface::TrackState feed(Tracker& t, const std::vector<Observation>& decisions) {
  const cv::Rect2f box(100, 100, 50, 50);
  std::int64_t id = 0;
  for (const auto& d : decisions) {
    const auto ids = t.update({box}, {d});
    if (id != 0) {
      EXPECT_EQ(ids[0], id) << "the face changed track";
    }
    id = ids[0];
  }
  return t.state(id);
}

TEST(Iou, KnownValues) {
  const cv::Rect2f a(0, 0, 10, 10);
  EXPECT_FLOAT_EQ(vlrface::iou(a, a), 1.0f);
  EXPECT_FLOAT_EQ(vlrface::iou(a, {20, 20, 10, 10}), 0.0f);
  EXPECT_FLOAT_EQ(vlrface::iou(a, {10, 0, 10, 10}), 0.0f);  // touching edges
  EXPECT_FLOAT_EQ(vlrface::iou(a, {5, 0, 10, 10}), 50.0f / 150.0f);
  EXPECT_FLOAT_EQ(vlrface::iou(a, {2, 2, 5, 5}), 25.0f / 100.0f);  // contained
  EXPECT_FLOAT_EQ(vlrface::iou(a, {5, 0, 10, 10}), vlrface::iou({5, 0, 10, 10}, a));
  EXPECT_FLOAT_EQ(vlrface::iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0.0f);  // no NaN for empty boxes
}

TEST(Tracker, KeepsIdsOfMovingFacesAndGivesNewOnesFreshIds) {
  Tracker t;
  auto ids = t.update({{100, 100, 50, 50}, {400, 100, 50, 50}}, {unknown(), unknown()});
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_NE(ids[0], ids[1]);
  // Both move a little, and come in the other order.
  const auto next = t.update({{405, 102, 50, 50}, {104, 98, 50, 50}}, {unknown(), unknown()});
  EXPECT_EQ(next[0], ids[1]);
  EXPECT_EQ(next[1], ids[0]);
  // A box far from both is someone new.
  const auto third = t.update({{104, 98, 50, 50}, {405, 102, 50, 50}, {250, 300, 50, 50}},
                              {unknown(), unknown(), unknown()});
  EXPECT_EQ(third[0], ids[0]);
  EXPECT_EQ(third[1], ids[1]);
  EXPECT_NE(third[2], ids[0]);
  EXPECT_NE(third[2], ids[1]);
  EXPECT_EQ(t.state(ids[0]).age, 3);
  EXPECT_EQ(t.tracks().size(), 3u);
}

TEST(Tracker, OneBoxContinuesOnlyOneTrack) {
  Tracker t;
  const auto a = t.update({{100, 100, 50, 50}, {110, 100, 50, 50}}, {unknown(), unknown()});
  const auto b = t.update({{105, 100, 50, 50}}, {unknown()});
  EXPECT_TRUE(b[0] == a[0] || b[0] == a[1]);
  EXPECT_EQ(t.tracks().size(), 2u);  // the other one is missed, not merged
}

TEST(Tracker, TracksExpireAfterMaxMissed) {
  Tracker t({.max_missed = 2});
  const auto id = t.update({{0, 0, 20, 20}}, {unknown()})[0];
  t.update({}, {});
  t.update({}, {});
  EXPECT_EQ(t.state(id).missed, 2);
  // Still alive after max_missed frames: the face comes back and keeps its id.
  EXPECT_EQ(t.update({{1, 1, 20, 20}}, {unknown()})[0], id);
  t.update({}, {});
  t.update({}, {});
  t.update({}, {});
  EXPECT_TRUE(t.tracks().empty());
  EXPECT_THROW(t.state(id), vlrface::Error);
  EXPECT_NE(t.update({{1, 1, 20, 20}}, {unknown()})[0], id);
}

TEST(Tracker, VoteIgnoresASingleFrameFlicker) {
  Tracker t;  // window 7, min 3
  auto s = feed(t, {named("alice"), named("alice"), named("alice")});
  ASSERT_TRUE(s.name);
  EXPECT_EQ(*s.name, "alice");
  s = feed(t, {named("bob")});
  ASSERT_TRUE(s.name);
  EXPECT_EQ(*s.name, "alice");
  s = feed(t, {unknown()});
  ASSERT_TRUE(s.name);
  EXPECT_EQ(*s.name, "alice");  // 3 of 5
}

TEST(Tracker, NeedsMinVotesBeforeNaming) {
  Tracker t;
  auto s = feed(t, {named("alice"), named("alice")});
  EXPECT_FALSE(s.name) << "2 votes < min_votes 3";
  s = feed(t, {named("alice")});
  ASSERT_TRUE(s.name);
  EXPECT_EQ(*s.name, "alice");
}

TEST(Tracker, NeedsAStrictMajority) {
  Tracker t;
  // 3 alice, 3 bob: a tie is no majority.
  auto s = feed(t, {named("alice"), named("alice"), named("alice"), named("bob"), named("bob"),
                    named("bob")});
  EXPECT_FALSE(s.name);
  // The window slides (7): a, a, a, b, b, b, b -> bob has 4 of 7.
  s = feed(t, {named("bob")});
  ASSERT_TRUE(s.name);
  EXPECT_EQ(*s.name, "bob");
}

TEST(Tracker, UnknownWinsWithoutAMajority) {
  Tracker t;
  auto s = feed(t, {named("alice", 0.5f), unknown(0.2f), named("alice", 0.5f), unknown(0.2f),
                    named("alice", 0.5f), unknown(0.2f)});
  EXPECT_FALSE(s.name) << "3 of 6 is not a majority";
  EXPECT_NEAR(s.similarity, 0.2f, 1e-6);
  Tracker u;
  s = feed(u, {unknown(), unknown(), unknown(), unknown()});
  EXPECT_FALSE(s.name);
}

TEST(Tracker, SimilarityIsTheMeanOfTheWinningVotes) {
  Tracker t;
  const auto s = feed(
      t, {named("alice", 0.5f), named("alice", 0.7f), named("bob", 0.9f), named("alice", 0.6f)});
  ASSERT_TRUE(s.name);
  EXPECT_NEAR(s.similarity, 0.6f, 1e-6);
}

TEST(Tracker, ResetForgetsTracksButNotIdNumbers) {
  Tracker t;
  const auto id = t.update({{0, 0, 20, 20}}, {named("alice")})[0];
  t.reset();
  EXPECT_TRUE(t.tracks().empty());
  EXPECT_GT(t.update({{0, 0, 20, 20}}, {named("alice")})[0], id);
}

TEST(Tracker, ClearVotesKeepsTracks) {
  Tracker t;
  const auto s = feed(t, {named("alice"), named("alice"), named("alice")});
  ASSERT_TRUE(s.name);
  t.clear_votes();
  EXPECT_FALSE(t.state(s.id).name);
  const auto after = feed(t, {named("bob"), named("bob")});
  EXPECT_EQ(after.id, s.id);
  EXPECT_FALSE(after.name) << "2 fresh votes are not enough; the old ones are gone";
  EXPECT_EQ(*feed(t, {named("bob")}).name, "bob");
}

TEST(Tracker, RejectsMismatchedInput) {
  Tracker t;
  EXPECT_THROW(t.update({{0, 0, 1, 1}}, {}), vlrface::Error);
  EXPECT_THROW(Tracker({.vote_window = 0}), vlrface::Error);
}

}  // namespace
