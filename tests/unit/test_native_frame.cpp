// eval/native_frame: a dataset image as the camera frame of a distant face (no models).
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "native_frame.hpp"
#include "vlrface/error.hpp"

namespace {

using vlrface::evaluation::make_native_frame;

TEST(NativeFrame, ShrinksTheWholeImageSoTheFaceHasTheTargetSizeAndMapsPoints) {
  cv::Mat img(160, 160, CV_8UC3, cv::Scalar(10, 20, 30));
  cv::circle(img, {100, 60}, 6, cv::Scalar(255, 255, 255), cv::FILLED);  // a marker
  const auto f = make_native_frame(img, /*face_px=*/80, /*target_px=*/16);
  EXPECT_EQ(f.frame.size(), cv::Size(640, 480));
  EXPECT_NEAR(f.scale, 0.2, 1e-9);
  const cv::Point2f m = f.map({100, 60});
  EXPECT_NEAR(m.x, 320 - 16 + 20, 0.01);  // centred: the 32 px image starts at 304
  EXPECT_NEAR(m.y, 240 - 16 + 12, 0.01);
  EXPECT_GT(f.frame.at<cv::Vec3b>(cvRound(m.y), cvRound(m.x))[0], 100) << "the marker moved";
  EXPECT_EQ(f.frame.at<cv::Vec3b>(5, 5), cv::Vec3b(128, 128, 128)) << "mid-grey canvas";
}

TEST(NativeFrame, JpegRoundTripChangesPixelsNotGeometry) {
  cv::Mat img(100, 100, CV_8UC3);
  cv::randu(img, 0, 255);
  const auto plain = make_native_frame(img, 50, 25);
  const auto jpeg = make_native_frame(img, 50, 25, {.canvas = {320, 240}, .jpeg_quality = 30});
  EXPECT_EQ(jpeg.frame.size(), cv::Size(320, 240));
  EXPECT_EQ(jpeg.scale, plain.scale);
  cv::Mat a = plain.frame(cv::Rect(295, 215, 50, 50)), b = jpeg.frame(cv::Rect(135, 95, 50, 50));
  EXPECT_GT(cv::norm(a, b, cv::NORM_L1) / a.total(), 1.0) << "quality 30 must lose detail";
}

TEST(NativeFrame, ImagesLargerThanTheCanvasAreCroppedCentrally) {
  cv::Mat img(400, 400, CV_8UC3, cv::Scalar(0, 0, 200));
  const auto f = make_native_frame(img, 50, 100, {.canvas = {320, 240}});
  EXPECT_EQ(f.frame.size(), cv::Size(320, 240));
  EXPECT_EQ(f.frame.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 200));
  EXPECT_NEAR(f.map({400, 400}).x, 160 + 400, 0.5);
}

TEST(NativeFrame, BadInputIsNamed) {
  EXPECT_THROW((void)make_native_frame(cv::Mat(), 50, 16), vlrface::Error);
  EXPECT_THROW((void)make_native_frame(cv::Mat(10, 10, CV_8UC3), 0, 16), vlrface::Error);
  EXPECT_THROW((void)make_native_frame(cv::Mat(10, 10, CV_8UC3), 50, 0), vlrface::Error);
  EXPECT_THROW((void)make_native_frame(cv::Mat(10, 10, CV_8UC1), 50, 16), vlrface::Error);
}

}  // namespace
