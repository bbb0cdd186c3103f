#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "vlrface/align.hpp"
#include "vlrface/error.hpp"

namespace {

vlrface::Landmarks transform(const vlrface::Landmarks& pts, double scale, double angle_rad,
                             cv::Point2d shift) {
  vlrface::Landmarks out;
  const double c = std::cos(angle_rad) * scale, s = std::sin(angle_rad) * scale;
  for (std::size_t i = 0; i < 5; ++i) {
    out[i] = cv::Point2f(static_cast<float>(c * pts[i].x - s * pts[i].y + shift.x),
                         static_cast<float>(s * pts[i].x + c * pts[i].y + shift.y));
  }
  return out;
}

}  // namespace

TEST(Align, SimilarityRecoversAKnownTransform) {
  const auto src = vlrface::kArcFaceTemplate;
  const auto dst = transform(src, 1.7, 0.3, {12.5, -4.0});
  const cv::Matx23d m = vlrface::similarity_transform(src, dst);
  EXPECT_NEAR(m(0, 0), 1.7 * std::cos(0.3), 1e-5);
  EXPECT_NEAR(m(1, 0), 1.7 * std::sin(0.3), 1e-5);
  EXPECT_NEAR(m(0, 2), 12.5, 1e-4);
  EXPECT_NEAR(m(1, 2), -4.0, 1e-4);
}

TEST(Align, LeastSquaresWithNoise) {
  // With noisy points the fit must still map each source point close to its target.
  auto dst = transform(vlrface::kArcFaceTemplate, 0.5, -0.2, {3, 7});
  dst[2].x += 0.4f;
  const cv::Matx23d m = vlrface::similarity_transform(vlrface::kArcFaceTemplate, dst);
  for (std::size_t i = 0; i < 5; ++i) {
    const auto& p = vlrface::kArcFaceTemplate[i];
    const double x = m(0, 0) * p.x + m(0, 1) * p.y + m(0, 2);
    const double y = m(1, 0) * p.x + m(1, 1) * p.y + m(1, 2);
    EXPECT_LT(std::hypot(x - dst[i].x, y - dst[i].y), 0.5);
  }
}

TEST(Align, WarpPutsLandmarksOnTheTemplate) {
  // Draw dots at rotated, scaled landmark positions; after alignment the dots sit on the
  // template positions.
  cv::Mat img(300, 300, CV_8UC3, cv::Scalar::all(0));
  const auto lm = transform(vlrface::kArcFaceTemplate, 2.0, 0.25, {60, 20});
  for (const auto& p : lm) cv::circle(img, p, 3, cv::Scalar(255, 255, 255), cv::FILLED);
  const cv::Mat face = vlrface::align_face(img, lm);
  ASSERT_EQ(face.size(), cv::Size(112, 112));
  for (const auto& p : vlrface::kArcFaceTemplate) {
    EXPECT_GT(face.at<cv::Vec3b>(cvRound(p.y), cvRound(p.x))[0], 200) << p;
  }
  EXPECT_EQ(face.at<cv::Vec3b>(5, 5)[0], 0);
}

TEST(Align, OtherOutputSizesScaleTheTemplate) {
  cv::Mat img(200, 200, CV_8UC3, cv::Scalar::all(90));
  EXPECT_EQ(vlrface::align_face(img, vlrface::kArcFaceTemplate, 56).size(), cv::Size(56, 56));
}

TEST(Align, TooSmallFaceIsAClearError) {
  const auto tiny = transform(vlrface::kArcFaceTemplate, 0.05, 0, {10, 10});
  cv::Mat img(50, 50, CV_8UC3, cv::Scalar::all(0));
  try {
    vlrface::align_face(img, tiny);
    FAIL() << "expected an error";
  } catch (const vlrface::Error& e) {
    EXPECT_EQ(e.stage(), "align");
    EXPECT_NE(std::string(e.what()).find("too small"), std::string::npos) << e.what();
  }
}

TEST(Align, DegenerateLandmarksAreRejected) {
  vlrface::Landmarks same;
  same.fill(cv::Point2f(10, 10));
  EXPECT_THROW(vlrface::similarity_transform(same, vlrface::kArcFaceTemplate), vlrface::Error);
}
