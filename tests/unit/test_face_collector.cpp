// FaceCollector: which live faces are kept for enrolment, and how a collection ends. Synthetic
// frames (random texture is "sharp"; a flat frame is not) and hand-placed landmarks; no models.
#include <gtest/gtest.h>

#include <chrono>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "face_collector.hpp"
#include "vlrface/align.hpp"
#include "vlrface/error.hpp"

namespace {

using vlrface::Face;
using vlrface::live::FaceCollector;

cv::Mat textured_frame(int seed) {
  cv::Mat m(320, 320, CV_8UC3);
  cv::RNG rng(static_cast<std::uint64_t>(seed));
  rng.fill(m, cv::RNG::UNIFORM, 0, 255);
  return m;
}

// Eyes `eyes` px apart around x = 160, nose at `nose` (fraction of the way between the eyes).
Face face(float eyes = 60, float nose = 0.5f) {
  Face f;
  const float l = 160 - eyes / 2, r = 160 + eyes / 2;
  f.box = cv::Rect2f(l - eyes / 2, 90, eyes * 2, eyes * 2.4f);
  f.score = 1;
  f.landmarks = {cv::Point2f(l, 130), cv::Point2f(r, 130), cv::Point2f(l + nose * eyes, 160),
                 cv::Point2f(l + 0.1f * eyes, 190), cv::Point2f(r - 0.1f * eyes, 190)};
  return f;
}

// What the live engine offers: Pipeline's results, here aligned by the core's aligner.
std::vector<vlrface::FaceResult> results(const cv::Mat& frame, const std::vector<Face>& faces) {
  std::vector<vlrface::FaceResult> out;
  for (const Face& f : faces) {
    vlrface::FaceResult r;
    r.face = f;
    try {
      r.aligned = vlrface::align_face(frame, f.landmarks);
    } catch (const vlrface::Error& e) {
      r.status = vlrface::FaceStatus::kTooSmall;
      r.note = e.what();
    }
    out.push_back(r);
  }
  return out;
}

// Offers `frames` (frame, faces) pairs from another thread, 250 ms apart, while collect() runs.
template <typename Offer>
std::vector<cv::Mat> collect_while(FaceCollector& c, int count, int timeout_ms, Offer offer,
                                   std::vector<std::pair<int, int>>* progress = nullptr) {
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    offer();
  });
  auto out = c.collect(count, timeout_ms, [&](int done, int n) {
    if (progress) progress->emplace_back(done, n);
  });
  t.join();
  return out;
}

TEST(FaceCollector, KeepsGoodFacesAndReportsProgress) {
  FaceCollector c;
  c.open();
  std::vector<std::pair<int, int>> progress;
  const auto out = collect_while(
      c, 2, 5000,
      [&] {
        for (int i = 1; i <= 3; ++i) {
          c.offer(results(textured_frame(i), {face()}), static_cast<std::uint64_t>(i));
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
      },
      &progress);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].size(), cv::Size(112, 112));
  EXPECT_GT(cv::norm(out[0], out[1], cv::NORM_L1), 0);
  EXPECT_EQ(progress, (std::vector<std::pair<int, int>>{{1, 2}, {2, 2}}));
}

TEST(FaceCollector, RefusesSmallProfileBlurredCrowdedAndRepeatedFaces) {
  FaceCollector c;
  c.open();
  const cv::Mat flat(320, 320, CV_8UC3, cv::Scalar(120, 120, 120));
  const auto out = collect_while(c, 3, 1500, [&] {
    std::uint64_t n = 0;
    c.offer(results(textured_frame(1), {face(20)}), ++n);        // eyes 20 px apart: too small
    c.offer(results(textured_frame(2), {face(60, 0.9f)}), ++n);  // nose beside an eye: a profile
    c.offer(results(flat, {face()}), ++n);                       // nothing sharp in it
    c.offer(results(textured_frame(3), {face(), face()}), ++n);  // whose face would it be?
    const std::uint64_t kept = ++n;
    c.offer(results(textured_frame(4), {face()}), kept);  // kept
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    c.offer(results(textured_frame(4), {face()}), ++n);   // the same picture again
    c.offer(results(textured_frame(5), {face()}), kept);  // the kept frame offered again
  });
  EXPECT_EQ(out.size(), 1u);
}

TEST(FaceCollector, CloseEndsACollectionAndOnlyOneRunsAtATime) {
  FaceCollector c;
  c.open();
  std::vector<cv::Mat> out;
  std::thread t([&] { out = c.collect(5, 10000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_THROW(c.collect(1, 10), vlrface::Error);
  const auto t0 = std::chrono::steady_clock::now();
  c.close();
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_TRUE(out.empty());
  // Closed: nothing is waited for, nothing is kept.
  c.offer(results(textured_frame(1), {face()}), 1);
  EXPECT_TRUE(c.collect(1, 5000).empty());
}

}  // namespace
