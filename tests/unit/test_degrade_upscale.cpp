#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "vlrface/degrade.hpp"
#include "vlrface/error.hpp"
#include "vlrface/models.hpp"
#include "vlrface/upscale.hpp"

namespace {
cv::Mat gradient_face() {
  cv::Mat img(112, 112, CV_8UC3);
  for (int y = 0; y < 112; ++y)
    for (int x = 0; x < 112; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(x * 2, y * 2, (x + y));
  return img;
}
}  // namespace

TEST(Degrade, ProducesEachWorkingResolution) {
  const cv::Mat face = gradient_face();
  for (int s : vlrface::kWorkingResolutions) {
    const cv::Mat small = vlrface::degrade(face, s);
    EXPECT_EQ(small.size(), cv::Size(s, s));
    EXPECT_EQ(small.type(), CV_8UC3);
  }
}

TEST(Degrade, AreaShrinkAveragesBlocks) {
  // 112 -> 16 is a 7x7 box average: a checkerboard of 7x7 blocks averages to its block values.
  cv::Mat face(112, 112, CV_8UC3, cv::Scalar::all(0));
  cv::rectangle(face, cv::Rect(0, 0, 7, 7), cv::Scalar::all(210), cv::FILLED);
  const cv::Mat small = vlrface::degrade(face, 16);
  EXPECT_EQ(small.at<cv::Vec3b>(0, 0)[0], 210);
  EXPECT_EQ(small.at<cv::Vec3b>(0, 1)[0], 0);
}

TEST(Degrade, NoiseIsDeterministicPerSeedAndJpegChangesPixels) {
  const cv::Mat face = gradient_face();
  vlrface::DegradeOptions o;
  o.noise_sigma = 5;
  o.seed = 42;
  const cv::Mat a = vlrface::degrade(face, 24, o), b = vlrface::degrade(face, 24, o);
  EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0);
  EXPECT_GT(cv::norm(a, vlrface::degrade(face, 24), cv::NORM_L1), 0);
  vlrface::DegradeOptions j;
  j.jpeg_quality = 10;
  j.blur_sigma = 1.0;
  EXPECT_EQ(vlrface::degrade(face, 32, j).size(), cv::Size(32, 32));
}

TEST(Degrade, RejectsBadSizes) {
  EXPECT_THROW(vlrface::degrade(gradient_face(), 2), vlrface::Error);
  EXPECT_THROW(vlrface::degrade(gradient_face(), 200), vlrface::Error);
  EXPECT_THROW(vlrface::degrade(cv::Mat(), 16), vlrface::Error);
}

TEST(Upscale, BicubicReturns112AndPreservesFlatColour) {
  vlrface::BicubicUpscaler up;
  const cv::Mat flat(16, 16, CV_8UC3, cv::Scalar(10, 100, 200));
  const cv::Mat out = up.upscale(flat);
  EXPECT_EQ(out.size(), cv::Size(112, 112));
  EXPECT_LE(cv::norm(out, cv::Mat(112, 112, CV_8UC3, cv::Scalar(10, 100, 200)), cv::NORM_INF), 1);
}

TEST(Upscale, FactoryNamesUnknownKinds) {
  vlrface::ModelStore empty("/nonexistent-model-dir");
  EXPECT_NE(vlrface::make_upscaler("bicubic", 16, empty), nullptr);
  try {
    vlrface::make_upscaler("lanczos9", 16, empty);
    FAIL();
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lanczos9"), std::string::npos);
  }
  EXPECT_THROW(vlrface::make_upscaler("dsr", 16, empty), vlrface::Error);
}

TEST(Upscale, NoPictureNetworkMeansNone) {
  vlrface::ModelStore empty("/nonexistent-model-dir");
  EXPECT_EQ(vlrface::make_view_upscaler(empty), nullptr);
}
