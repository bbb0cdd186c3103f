// Two parts of the live engine without models or threads of its own: the snapshot board (what
// the web view reads: the latest frame and the source's state, failures and when they began)
// and the gallery follower (the matcher swapped whole on reload; a refused reload keeps the old
// one). Synthetic embeddings: no model files.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "gallery_follower.hpp"
#include "gallery_test_util.hpp"
#include "snapshot_board.hpp"
#include "vlrface/error.hpp"

namespace vlrface::live {
namespace {

using namespace gallery_test;

std::shared_ptr<Snapshot> frame(std::uint64_t n) {
  auto s = std::make_shared<Snapshot>();
  s->frame_number = n;
  s->frame = cv::Mat(4, 4, CV_8UC3, cv::Scalar(n, n, n));
  s->faces.emplace_back();
  s->fps = 10;
  return s;
}

TEST(SnapshotBoard, StartsStoppedWithTheSourceName) {
  SnapshotBoard b("file clip.mp4");
  const auto s = b.latest();
  EXPECT_EQ(s->source, "file clip.mp4");
  EXPECT_EQ(s->source_state, "stopped");
  EXPECT_EQ(s->frame_number, 0u);
  EXPECT_EQ(s->source_failures, 0);
}

TEST(SnapshotBoard, PublishedFramesCarryTheCurrentState) {
  SnapshotBoard b("cam");
  b.set_state("running");
  b.publish(frame(1));
  const auto s = b.latest();
  EXPECT_EQ(s->frame_number, 1u);
  EXPECT_EQ(s->source_state, "running");
  EXPECT_EQ(s->source, "cam");
  EXPECT_FALSE(s->source_down_since);
}

TEST(SnapshotBoard, AFailureIsCountedOnceAcrossRetriesAndEndsWhenRunning) {
  SnapshotBoard b("cam");
  b.set_state("running");
  b.publish(frame(1));
  b.set_state("retrying in 1 s", "camera unplugged");
  auto s = b.latest();
  EXPECT_EQ(s->source_state, "retrying in 1 s");
  EXPECT_EQ(s->source_failures, 1);
  ASSERT_TRUE(s->source_down_since);
  EXPECT_EQ(s->source_error, "camera unplugged");
  EXPECT_TRUE(s->frame.empty()) << "a stale last frame would look live";
  EXPECT_TRUE(s->faces.empty());
  EXPECT_EQ(s->fps, 0);
  const auto since = *s->source_down_since;

  b.set_state("opening");  // between two retries: still the same failure
  b.set_state("retrying in 2 s", "still unplugged");
  s = b.latest();
  EXPECT_EQ(s->source_failures, 1);
  EXPECT_EQ(*s->source_down_since, since) << "timed from the first retry";
  EXPECT_EQ(s->source_error, "still unplugged");

  b.set_state("running");
  b.publish(frame(2));
  s = b.latest();
  EXPECT_FALSE(s->source_down_since);
  EXPECT_TRUE(s->source_error.empty());
  EXPECT_EQ(s->source_failures, 1) << "the count stays";

  b.set_state("ended", "end of file");
  s = b.latest();
  EXPECT_EQ(s->source_failures, 2);
  EXPECT_EQ(s->source_error, "end of file");
  EXPECT_FALSE(s->frame.empty()) << "an ended file keeps its last picture";
}

TEST(SnapshotBoard, ANewRunForgetsTheOldFailureButNotTheCount) {
  SnapshotBoard b("cam");
  b.set_state("ended", "end of file");
  b.forget_failure();
  b.set_state("opening");
  const auto s = b.latest();
  EXPECT_FALSE(s->source_down_since);
  EXPECT_TRUE(s->source_error.empty());
  EXPECT_EQ(s->source_failures, 1);
}

TEST(SnapshotBoard, WaitReturnsANewerFrameOrTheLatestAtTimeout) {
  SnapshotBoard b("cam");
  b.publish(frame(3));
  const auto t = std::chrono::steady_clock::now();
  EXPECT_EQ(b.wait(3, 50)->frame_number, 3u) << "nothing newer: the latest, after the timeout";
  EXPECT_GE(std::chrono::steady_clock::now() - t, std::chrono::milliseconds(45));
  std::thread publisher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    b.publish(frame(4));
  });
  EXPECT_EQ(b.wait(3, 5000)->frame_number, 4u);
  publisher.join();
  EXPECT_EQ(b.wait(2, 0)->frame_number, 4u) << "already newer: no wait";
}

TEST(GalleryFollower, SwapsTheMatcherOnlyWhenTheGalleryChanged) {
  TempDir dir;
  const auto file = dir / "g.vlrg";
  {
    Gallery g(file, kModelA);
    g.enroll("ana", {face(1)});
  }
  GalleryFollower f(file, kModelA);
  EXPECT_EQ(f.matcher(), nullptr) << "nothing read before the first reload";
  EXPECT_TRUE(f.shown().empty());
  f.reload();
  const auto first = f.matcher();
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(first->contains("ana"));
  EXPECT_EQ(f.version(), 1u);
  EXPECT_EQ(f.shown(), file.string());

  f.reload();
  EXPECT_EQ(f.matcher(), first) << "unchanged gallery: the same matcher";
  EXPECT_EQ(f.version(), 1u);

  Gallery(file, kModelA).enroll("bo", {face(2)});
  f.reload();
  EXPECT_NE(f.matcher(), first);
  EXPECT_TRUE(f.matcher()->contains("bo"));
  EXPECT_FALSE(first->contains("bo")) << "a matcher handed out is never changed";
  EXPECT_EQ(f.version(), 2u);
}

TEST(GalleryFollower, AGalleryReembeddedByAnotherModelIsRefusedAndTheOldMatcherKept) {
  TempDir dir;
  const auto file = dir / "g.vlrg";
  Gallery(file, kModelA).enroll("ana", {face(1)});
  GalleryFollower f(file, kModelA);
  f.reload();
  const auto kept = f.matcher();
  {
    Gallery g(file, kModelA);
    g.reembed([](const cv::Mat&) { return random_embedding(7); }, kModelB);
  }
  try {
    f.reload();
    FAIL() << "a gallery of another model was followed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(kModelB), std::string::npos) << e.what();
  }
  EXPECT_EQ(f.matcher(), kept);
  EXPECT_EQ(f.version(), 1u);
}

TEST(GalleryFollower, AMissingGalleryIsAnErrorNamingIt) {
  TempDir dir;
  GalleryFollower f(dir / "nope" / "g.vlrg", kModelA);
  try {
    f.reload();
    FAIL() << "a gallery in a missing folder was opened";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos) << e.what();
  }
  EXPECT_EQ(f.matcher(), nullptr);
}

}  // namespace
}  // namespace vlrface::live
