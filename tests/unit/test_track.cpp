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

// Synthetic 128-d embeddings: a person is a random direction, their frames that direction plus
// a little noise (frame-to-frame cosine ~0.95), another person an independent direction (cosine
// ~0 with the first).
std::vector<float> direction(int seed) {
  cv::Mat v(1, 128, CV_32F);
  cv::RNG rng(static_cast<std::uint64_t>(seed));
  rng.fill(v, cv::RNG::NORMAL, 0, 1);
  cv::normalize(v, v);
  return std::vector<float>(v.begin<float>(), v.end<float>());
}
std::vector<float> frame_of(const std::vector<float>& person, int frame) {
  cv::Mat v(1, static_cast<int>(person.size()), CV_32F, const_cast<float*>(person.data()));
  cv::Mat noise(v.size(), CV_32F);
  cv::RNG rng(static_cast<std::uint64_t>(1000 + frame));
  rng.fill(noise, cv::RNG::NORMAL, 0, 0.025);
  cv::Mat out = v + noise;
  return std::vector<float>(out.begin<float>(), out.end<float>());
}
Observation seen(std::optional<std::string> name, const std::vector<float>& embedding,
                 float sim = 0.6f) {
  Observation o{std::move(name), sim};
  o.embedding = embedding;
  o.same_threshold = 0.3f;
  return o;
}

// Feeds frames first..first+n-1 of a person at one box; returns the track id.
std::int64_t feed_seen(Tracker& t, const cv::Rect2f& box, const std::vector<float>& person,
                       int first, int n) {
  std::int64_t id = 0;
  for (int f = first; f < first + n; ++f)
    id = t.update({box}, {seen("alice", frame_of(person, f))})[0];
  return id;
}

TEST(Tracker, SomeoneElseInTheSamePlaceGetsANewTrackAndNoOldName) {
  Tracker t;
  const cv::Rect2f box(100, 100, 50, 50);
  const auto alice = direction(1), bob = direction(2);
  std::int64_t id = 0;
  for (int f = 0; f < 6; ++f) {
    const auto ids = t.update({box}, {seen("alice", frame_of(alice, f))});
    if (id) {
      EXPECT_EQ(ids[0], id) << "alice's own frames must keep her track (frame " << f << ")";
    }
    id = ids[0];
  }
  ASSERT_TRUE(t.state(id).name);
  EXPECT_EQ(*t.state(id).name, "alice");
  // Bob steps into the same place in the very next frame: same box, another face. One far frame
  // could be an odd frame of alice: her track holds, but shows no name (never alice on bob).
  const auto b1 = t.update({cv::Rect2f(102, 101, 50, 50)}, {seen("bob", frame_of(bob, 10))})[0];
  EXPECT_EQ(b1, id);
  EXPECT_TRUE(t.state(id).suspect);
  EXPECT_FALSE(t.state(id).name) << "alice's name must not be shown on bob's face";
  // A second far frame: someone else. A new track, whose votes start with bob's two frames.
  const auto b = t.update({box}, {seen("bob", frame_of(bob, 11))})[0];
  EXPECT_NE(b, id) << "another person must not continue alice's track";
  EXPECT_FALSE(t.state(b).name) << "not alice, and not yet bob: 2 votes";
  EXPECT_FALSE(t.state(b).suspect);
  const auto b3 = t.update({box}, {seen("bob", frame_of(bob, 12))})[0];
  EXPECT_EQ(b3, b);
  ASSERT_TRUE(t.state(b).name) << "bob's first far frame counts as his vote";
  EXPECT_EQ(*t.state(b).name, "bob");
}

// The new person's box overlaps the old track exactly as much as their own new one (a still
// camera, a face in the same place): their frames must go on in their own track, not be taken
// for far frames of the old one, which was made first.
TEST(Tracker, AfterASplitTheNewPersonStaysInTheirOwnTrack) {
  Tracker t;
  const cv::Rect2f box(100, 100, 50, 50);
  const auto alice = direction(11), bob = direction(12);
  const auto a = feed_seen(t, box, alice, 0, 4);
  t.update({box}, {seen("bob", frame_of(bob, 0))});
  const auto b = t.update({box}, {seen("bob", frame_of(bob, 1))})[0];
  ASSERT_NE(b, a);
  for (int f = 2; f < 6; ++f) {
    EXPECT_EQ(t.update({box}, {seen("bob", frame_of(bob, f))})[0], b) << "frame " << f;
    EXPECT_FALSE(t.state(b).suspect);
  }
  ASSERT_TRUE(t.state(b).name);
  EXPECT_EQ(*t.state(b).name, "bob");
}

TEST(Tracker, SplitAfterOneSplitsAtTheFirstFarFrame) {
  Tracker t({.split_after = 1});
  const cv::Rect2f box(100, 100, 50, 50);
  const auto alice = direction(7), bob = direction(8);
  const auto a = t.update({box}, {seen("alice", frame_of(alice, 0))})[0];
  const auto b = t.update({box}, {seen("bob", frame_of(bob, 0))})[0];
  EXPECT_NE(a, b);
  EXPECT_FALSE(t.state(b).suspect);
}

TEST(Tracker, OneFarFrameOfTheSamePersonKeepsTrackAndVotes) {
  Tracker t;
  const cv::Rect2f box(100, 100, 50, 50);
  const auto alice = direction(9), stranger = direction(10);
  const auto id = feed_seen(t, box, alice, 0, 4);
  ASSERT_TRUE(t.state(id).name);
  // One frame whose embedding is nowhere near hers (on a 16-px face a same-person pair often
  // falls below the threshold): no name for that frame, same track.
  EXPECT_EQ(t.update({box}, {seen(std::nullopt, stranger)})[0], id);
  EXPECT_FALSE(t.state(id).name);
  // Her next frame: the same track, and her votes are intact, so her name is back at once.
  EXPECT_EQ(t.update({box}, {seen("alice", frame_of(alice, 5))})[0], id);
  ASSERT_TRUE(t.state(id).name);
  EXPECT_EQ(*t.state(id).name, "alice");
  EXPECT_FALSE(t.state(id).suspect);
  // The far frame was not kept as hers: a stranger's frame one later is far again, not a match.
  EXPECT_EQ(t.update({box}, {seen(std::nullopt, stranger)})[0], id);
  EXPECT_TRUE(t.state(id).suspect);
  // Far frames must be consecutive: a frame without the face in between breaks the run.
  t.update({}, {});
  EXPECT_EQ(t.update({box}, {seen(std::nullopt, stranger)})[0], id);
  EXPECT_TRUE(t.state(id).suspect);
}

TEST(Tracker, OneOddFrameDoesNotSplitATrack) {
  Tracker t;
  const cv::Rect2f box(100, 100, 50, 50);
  const auto alice = direction(3);
  const auto first = t.update({box}, {seen("alice", frame_of(alice, 0))})[0];
  t.update({box}, {seen("alice", frame_of(alice, 1))});
  // A blurred, half-turned frame: still nearer alice than the threshold (cosine ~0.7).
  std::vector<float> odd = frame_of(alice, 2);
  const auto other = direction(4);
  for (std::size_t i = 0; i < odd.size(); ++i) odd[i] += other[i];
  EXPECT_EQ(t.update({box}, {seen(std::nullopt, odd)})[0], first);
  // Frames without an embedding (too small to recognise) are never split off.
  EXPECT_EQ(t.update({box}, {unknown()})[0], first);
  EXPECT_EQ(t.update({box}, {seen("alice", frame_of(alice, 3))})[0], first);
}

TEST(Tracker, ThePreviousPersonComingBackContinuesTheirTrack) {
  Tracker t;  // max_missed 5
  const cv::Rect2f box(100, 100, 50, 50);
  const auto alice = direction(5), bob = direction(6);
  const auto a = t.update({box}, {seen("alice", frame_of(alice, 0))})[0];
  t.update({box}, {seen("bob", frame_of(bob, 0))});
  const auto b = t.update({box}, {seen("bob", frame_of(bob, 1))})[0];
  ASSERT_NE(a, b);
  // Alice back a frame later: her own track again (missed once), not bob's.
  EXPECT_EQ(t.update({box}, {seen("alice", frame_of(alice, 1))})[0], a);
  // Two people side by side, each keeps their own track.
  const auto both = t.update({box, cv::Rect2f(300, 100, 50, 50)},
                             {seen("alice", frame_of(alice, 2)), seen("bob", frame_of(bob, 2))});
  EXPECT_EQ(both[0], a);
  EXPECT_NE(both[1], a);
}

TEST(Tracker, RejectsMismatchedInput) {
  Tracker t;
  EXPECT_THROW(t.update({{0, 0, 1, 1}}, {}), vlrface::Error);
  EXPECT_THROW(Tracker({.vote_window = 0}), vlrface::Error);
  EXPECT_THROW(Tracker({.identity_window = 0}), vlrface::Error);
  EXPECT_THROW(Tracker({.split_after = 0}), vlrface::Error);
}

}  // namespace
