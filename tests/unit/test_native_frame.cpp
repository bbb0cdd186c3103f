// eval/native_frame: a dataset image as the camera frame of a distant face (no models).
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>
#include <vector>

#include "h264.hpp"
#include "eval_run.hpp"
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

// A smooth synthetic scene (gradients and a few discs): what a codec keeps at a low CRF.
cv::Mat smooth_scene(cv::Size size) {
  cv::Mat img(size, CV_8UC3);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(x * 255 / size.width),
                                          static_cast<uchar>(y * 255 / size.height), 90);
    }
  }
  cv::circle(img, {size.width / 3, size.height / 2}, size.height / 6, {20, 200, 240}, cv::FILLED);
  cv::circle(img, {2 * size.width / 3, size.height / 3}, 5, {250, 250, 250}, cv::FILLED);
  return img;
}

TEST(H264, RoundTripKeepsTheFrameAndLosesMoreAtAHigherCrf) {
  // CI installs libavcodec-dev (scripts/setup.sh): a build without H.264 fails here on purpose.
  ASSERT_TRUE(vlrface::evaluation::h264_available()) << "built without libavcodec/libx264";
  const cv::Mat img = smooth_scene({320, 240});
  const cv::Mat fine = vlrface::evaluation::h264_round_trip(img, 10);
  const cv::Mat coarse = vlrface::evaluation::h264_round_trip(img, 45);
  ASSERT_EQ(fine.size(), img.size());
  ASSERT_EQ(fine.type(), CV_8UC3);
  ASSERT_EQ(coarse.size(), img.size());
  const double psnr_fine = cv::PSNR(img, fine), psnr_coarse = cv::PSNR(img, coarse);
  EXPECT_GT(psnr_fine, 35) << "CRF 10 should be near-transparent on a smooth scene";
  EXPECT_LT(psnr_coarse, psnr_fine - 3) << "CRF 45 must lose detail";
  EXPECT_GT(psnr_coarse, 18) << "but still be the same picture";
  // Deterministic: the same frame and CRF give the same pixels (eval rows are repeatable).
  EXPECT_EQ(cv::norm(coarse, vlrface::evaluation::h264_round_trip(img, 45), cv::NORM_INF), 0);
}

TEST(H264, NativeFramesCanBeCodedAndBadSettingsAreNamed) {
  const cv::Mat img = smooth_scene({100, 100});
  const auto plain = make_native_frame(img, 50, 25, {.canvas = {320, 240}});
  const auto coded = make_native_frame(img, 50, 25, {.canvas = {320, 240}, .h264_crf = 40});
  EXPECT_EQ(coded.scale, plain.scale);
  EXPECT_GT(cv::norm(plain.frame, coded.frame, cv::NORM_L1), 0) << "CRF 40 changes pixels";
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const vlrface::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { (void)vlrface::evaluation::h264_round_trip(cv::Mat(11, 10, CV_8UC3), 23); })
                .find("even frame size"),
            std::string::npos);
  EXPECT_NE(message([&] { (void)vlrface::evaluation::h264_round_trip(img, 52); }).find("CRF 52"),
            std::string::npos);
  EXPECT_NE(message([&] { (void)vlrface::evaluation::h264_round_trip(cv::Mat(), 23); })
                .find("non-empty 8-bit BGR"),
            std::string::npos);
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

TEST(MatchedTemplates, SizesAreParsedSortedOnceAndBadOnesNamed) {
  using vlrface::evaluation::parse_sizes;
  EXPECT_EQ(parse_sizes("24,12, 16,12", "--matched-templates"), (std::vector<int>{12, 16, 24}));
  for (const char* bad : {"12,3", "12,112", "12,,16", "twelve", "16px"}) {
    try {
      parse_sizes(bad, "--matched-templates");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const vlrface::Error& e) {
      EXPECT_EQ(e.stage(), "cli");
      EXPECT_NE(std::string(e.what()).find("--matched-templates"), std::string::npos) << e.what();
    }
  }
}

TEST(MatchedTemplates, TheNearestSizeInLogScaleIsTaken) {
  using vlrface::evaluation::matched_template_size;
  const std::vector<int> s = {12, 16, 24};
  EXPECT_EQ(matched_template_size(s, 9.f), 12);
  EXPECT_EQ(matched_template_size(s, 13.8f), 12);   // sqrt(12 * 16) = 13.86
  EXPECT_EQ(matched_template_size(s, 13.9f), 16);
  EXPECT_EQ(matched_template_size(s, 19.5f), 16);   // sqrt(16 * 24) = 19.60: not the midpoint 20
  EXPECT_EQ(matched_template_size(s, 19.7f), 24);
  EXPECT_EQ(matched_template_size(s, 60.f), 24);
  EXPECT_EQ(matched_template_size({8, 32}, 16.f), 8) << "a tie (log 2 either way) takes the smaller";
  EXPECT_THROW(matched_template_size({}, 16.f), vlrface::Error);
}
