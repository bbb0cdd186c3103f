// FaceCollector: which live faces are kept for enrolment, and how a collection ends. Synthetic
// frames (random texture is "sharp"; a flat frame is not) and hand-placed landmarks; no models.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "capture_check.hpp"
#include "face_collector.hpp"
#include "vlrface/align.hpp"
#include "vlrface/error.hpp"

namespace {

using vlrface::Face;
using vlrface::live::FaceCollector;
using vlrface::live::check_agreement;

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

// Capture checks with synthetic embeddings: a person is a random direction, each of their faces
// that direction plus noise (cosine ~0.8 between two faces), another person an independent
// direction (cosine ~0 with the first).
std::vector<float> person(int seed) {
  cv::Mat v(1, 512, CV_32F);
  cv::RNG rng(static_cast<std::uint64_t>(seed));
  rng.fill(v, cv::RNG::NORMAL, 0, 1);
  cv::normalize(v, v);
  return std::vector<float>(v.begin<float>(), v.end<float>());
}
std::vector<float> face_of(const std::vector<float>& p, int n, float noise = 0.02f) {
  cv::RNG rng(static_cast<std::uint64_t>(7000 + n));
  std::vector<float> out(p);
  for (float& x : out) x += static_cast<float>(rng.gaussian(noise));
  return out;
}

TEST(CaptureCheck, OnePersonAgreesTwoPeopleDoNot) {
  const auto alice = person(1), bob = person(2);
  std::vector<std::vector<float>> faces;
  for (int i = 0; i < 5; ++i) faces.push_back(face_of(alice, i));
  auto a = check_agreement(faces, 0.3f);
  EXPECT_TRUE(a.agree);
  EXPECT_TRUE(a.message(0.3f).empty());
  EXPECT_GT(a.lowest, 0.5f);
  // Bob stepped in for one face: he matches none of the others.
  faces[3] = face_of(bob, 3);
  a = check_agreement(faces, 0.3f);
  EXPECT_FALSE(a.agree);
  EXPECT_EQ(a.worst_face, 3);
  EXPECT_EQ(a.worst_matches, 0);
  EXPECT_LT(a.lowest, 0.3f);
  EXPECT_TRUE(a.pair_a == 3 || a.pair_b == 3);
  const std::string m = a.message(0.3f);
  EXPECT_NE(m.find("not all the same person"), std::string::npos) << m;
  EXPECT_NE(m.find("face 4 of 5 matches 0 of the 4 others"), std::string::npos) << m;
  EXPECT_NE(m.find("threshold 0.3000"), std::string::npos) << m;
  // Two and two: each matches one of three others, less than half.
  const std::vector<std::vector<float>> half = {face_of(alice, 1), face_of(alice, 2),
                                                face_of(bob, 1), face_of(bob, 2)};
  EXPECT_FALSE(check_agreement(half, 0.3f).agree);
  // Two faces: the pair must match.
  EXPECT_FALSE(check_agreement({face_of(alice, 1), face_of(bob, 1)}, 0.3f).agree);
  EXPECT_TRUE(check_agreement({face_of(alice, 1), face_of(alice, 2)}, 0.3f).agree);
  // One face has nothing to disagree with.
  EXPECT_TRUE(check_agreement({face_of(bob, 1)}, 0.3f).agree);
}

TEST(CaptureCheck, OneOddFrameOfTheSamePersonIsNotRefused) {
  // Three views of one face, turning: the first and the last are below the threshold (cosine
  // 0.17 < 0.5, as ORL s01's photos 7 and 10 are near EdgeFace's: 0.283), but each matches
  // half of the others, so the capture is one person. A strict pairwise rule would
  // refuse it.
  const auto at = [](double deg) {
    const double r = deg * CV_PI / 180;
    return std::vector<float>{static_cast<float>(std::cos(r)), static_cast<float>(std::sin(r))};
  };
  const auto turning = check_agreement({at(0), at(40), at(80)}, 0.5f);
  EXPECT_TRUE(turning.agree) << turning.message(0.5f);
  EXPECT_NEAR(turning.lowest, std::cos(80 * CV_PI / 180), 1e-5);
  EXPECT_EQ(turning.pair_a, 0);
  EXPECT_EQ(turning.pair_b, 2);
  // A half-turned frame: alice plus twice another direction (cosine ~0.45 with her faces),
  // above the threshold 0.3 against each of them.
  const auto alice = person(3), other = person(4);
  std::vector<std::vector<float>> faces;
  for (int i = 0; i < 4; ++i) faces.push_back(face_of(alice, i));
  std::vector<float> odd = face_of(alice, 9);
  for (std::size_t i = 0; i < odd.size(); ++i) odd[i] += 2.0f * other[i];
  faces.push_back(odd);
  const auto a = check_agreement(faces, 0.3f);
  EXPECT_TRUE(a.agree) << a.message(0.3f);
  // ... unless the threshold says even that is another person.
  EXPECT_FALSE(check_agreement(faces, 0.6f).agree);
  EXPECT_THROW(check_agreement({{1, 0}, {1, 0, 0}}, 0.3f), vlrface::Error);
}

TEST(CaptureCheck, SaysWhoIsEnrolledAlreadyExceptThePersonItself) {
  const auto alice = person(5), bob = person(6), carol = person(7);
  vlrface::Matcher gallery;
  gallery.add("alice", alice);
  gallery.add("bob", bob);
  const std::vector<std::vector<float>> faces = {face_of(alice, 1), face_of(alice, 2)};
  auto known = vlrface::live::already_enrolled(gallery, faces, 0.3f, "new name");
  ASSERT_EQ(known.size(), 1u);
  EXPECT_EQ(known[0].name, "alice");
  EXPECT_GT(known[0].similarity, 0.9f);
  // Adding faces to alice herself is no warning.
  EXPECT_TRUE(vlrface::live::already_enrolled(gallery, faces, 0.3f, "alice").empty());
  // Someone new matches nobody; an empty gallery, nobody either.
  EXPECT_TRUE(
      vlrface::live::already_enrolled(gallery, {face_of(carol, 1)}, 0.3f, "carol").empty());
  EXPECT_TRUE(vlrface::live::already_enrolled(vlrface::Matcher(), faces, 0.3f, "x").empty());
}

}  // namespace
