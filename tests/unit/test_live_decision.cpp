// The live engine's per-face decision and its frame rate, without models: synthetic embeddings
// against a Matcher built here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "face_decision.hpp"
#include "frame_rate.hpp"

namespace vlrface::live {
namespace {

std::vector<float> axis(int i, int dim = 8) {
  std::vector<float> v(dim, 0.f);
  v[i] = 1.f;
  return v;
}

// A unit probe at cosine `c` to axis 0 (ada) and `b` to axis 1 (bob); the rest on axis 7,
// which no one in the gallery has.
std::vector<float> probe(float c, float b = 0.f) {
  std::vector<float> v = axis(0);
  v[0] = c;
  v[1] = b;
  v[7] = std::sqrt(std::max(0.f, 1 - c * c - b * b));
  return v;
}

Matcher gallery() {
  return Matcher({{"ada", axis(0)}, {"bob", axis(1)}, {"cy", axis(2)}});
}

FaceResult ok_face(float cosine_to_ada, float calibrated, float cosine_to_bob = 0.1f) {
  FaceResult r;
  r.face.box = cv::Rect2f(10, 20, 16, 16);
  r.native_px = 16.4f;
  r.working_px = 16;
  r.recovery = "bicubic+adapter";
  r.threshold = calibrated;
  r.embedding = probe(cosine_to_ada, cosine_to_bob);
  r.lowres = cv::Mat(16, 16, CV_8UC3, cv::Scalar::all(7));
  r.aligned = cv::Mat(112, 112, CV_8UC3, cv::Scalar::all(9));
  r.upscaled = r.aligned;
  return r;
}

TEST(LiveDecision, IdentifiesAboveTheFacesOwnThreshold) {
  const FaceDecision d = decide_face(ok_face(0.6f, 0.3f), LiveSettings{}, gallery(), 2);
  ASSERT_TRUE(d.observation.name.has_value());
  EXPECT_EQ(*d.observation.name, "ada");
  EXPECT_NEAR(d.observation.similarity, 0.6f, 1e-5);
  EXPECT_FLOAT_EQ(d.face.threshold, 0.3f);
  EXPECT_FLOAT_EQ(d.observation.same_threshold, 0.3f);
  ASSERT_EQ(d.face.top.size(), 2u);  // top_k, best first
  EXPECT_EQ(d.face.top[0].name, "ada");
  EXPECT_EQ(d.face.top[1].name, "bob");
  EXPECT_EQ(d.face.recovery, "bicubic+adapter");
  EXPECT_EQ(d.face.working_px, 16);
  EXPECT_EQ(d.face.lowres.cols, 16);  // the small input, not the aligned crop
  EXPECT_FALSE(d.face.too_small);
  EXPECT_EQ(d.observation.embedding.size(), 8u);
}

TEST(LiveDecision, AUserThresholdDecidesButTheTrackerKeepsTheCalibratedOne) {
  LiveSettings s;
  s.threshold = 0.7f;  // stricter than the face's 0.3
  const FaceDecision d = decide_face(ok_face(0.6f, 0.3f), s, gallery(), 5);
  EXPECT_FALSE(d.observation.name.has_value());  // 0.6 is not above 0.7: unknown
  EXPECT_FLOAT_EQ(d.face.threshold, 0.7f);
  EXPECT_FLOAT_EQ(d.observation.same_threshold, 0.3f);
  EXPECT_FALSE(d.face.top.empty());  // the candidates are still shown
}

TEST(LiveDecision, ASimilarityEqualToTheThresholdIsRejected) {
  LiveSettings s;
  s.threshold = 0.5f;
  EXPECT_FALSE(decide_face(ok_face(0.5f, 0.3f), s, gallery(), 5).observation.name.has_value());
}

TEST(LiveDecision, VerifiesAgainstTheNamedPersonOnly) {
  LiveSettings s;
  s.task = "verify";
  s.verify_name = "bob";
  FaceResult r = ok_face(0.5f, 0.3f, 0.8f);  // 0.5 to ada, 0.8 to bob
  FaceDecision d = decide_face(r, s, gallery(), 5);
  ASSERT_TRUE(d.observation.name.has_value());
  EXPECT_EQ(*d.observation.name, "bob");
  ASSERT_EQ(d.face.top.size(), 1u);
  EXPECT_EQ(d.face.top[0].name, "bob");
  EXPECT_NEAR(d.face.top[0].similarity, 0.8f, 1e-5);

  s.verify_name = "cy";  // orthogonal: rejected, with its similarity shown
  d = decide_face(r, s, gallery(), 5);
  EXPECT_FALSE(d.observation.name.has_value());
  ASSERT_EQ(d.face.top.size(), 1u);
  EXPECT_NEAR(d.face.top[0].similarity, 0.f, 1e-5);

  s.verify_name = "nobody";  // not in the gallery: no decision, no candidate
  d = decide_face(r, s, gallery(), 5);
  EXPECT_FALSE(d.observation.name.has_value());
  EXPECT_TRUE(d.face.top.empty());
  EXPECT_FLOAT_EQ(d.observation.similarity, 0.f);
}

TEST(LiveDecision, AFaceTooSmallToAlignIsShownButNotMatched) {
  FaceResult r = ok_face(0.99f, 0.3f);
  r.status = FaceStatus::kTooSmall;
  r.embedding.clear();
  r.lowres.release();  // nothing recovered: the view shows the aligned crop
  const FaceDecision d = decide_face(r, LiveSettings{}, gallery(), 5);
  EXPECT_TRUE(d.face.too_small);
  EXPECT_FALSE(d.observation.name.has_value());
  EXPECT_TRUE(d.observation.embedding.empty());
  EXPECT_TRUE(d.face.top.empty());
  EXPECT_EQ(d.face.lowres.cols, 112);
}

TEST(LiveFrameRate, CountsFramesOverTheWindowOnceTheRunIsThatOld) {
  FrameRate fps(2.0);
  EXPECT_EQ(fps.add(10.0), 0.0);          // one frame: no rate yet
  EXPECT_DOUBLE_EQ(fps.add(10.5), 2.0);   // 1 frame after the first in 0.5 s
  EXPECT_DOUBLE_EQ(fps.add(11.0), 2.0);
  double r = 0;
  for (double t = 11.1; t < 14.0; t += 0.1) r = fps.add(t);  // 10 per second
  EXPECT_NEAR(r, 10.0, 0.51);
}

TEST(LiveFrameRate, TwoQuickFramesAfterAStallDoNotReadAsAHighRate) {
  FrameRate fps(2.0);
  for (double t = 0; t <= 3.0; t += 0.5) fps.add(t);
  fps.add(20.0);                            // a 17 s stall
  EXPECT_DOUBLE_EQ(fps.add(20.01), 1.0);    // 2 frames in the last 2 s, not 100 per second
}

TEST(LiveFrameRate, ResetStartsANewRun) {
  FrameRate fps(2.0);
  for (double t = 0; t <= 4.0; t += 0.1) fps.add(t);
  fps.reset();
  EXPECT_EQ(fps.add(100.0), 0.0);
  EXPECT_DOUBLE_EQ(fps.add(100.25), 4.0);
}

}  // namespace
}  // namespace vlrface::live
