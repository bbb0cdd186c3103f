#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "test_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

using vlrtest::TempDir;

namespace {
std::string error_of(const std::filesystem::path& p) {
  try {
    vlrface::load_image(p);
  } catch (const vlrface::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(ImageIo, MissingEmptyNotAnImageAndDirectory) {
  TempDir d;
  EXPECT_NE(error_of(d / "nope.jpg").find("no such file"), std::string::npos);
  vlrtest::write_bytes(d / "empty.jpg", "");
  EXPECT_NE(error_of(d / "empty.jpg").find("0 bytes"), std::string::npos);
  vlrtest::write_bytes(d / "text.png", "hello, I am not a picture");
  const std::string e = error_of(d / "text.png");
  EXPECT_NE(e.find("not an image"), std::string::npos) << e;
  EXPECT_NE(e.find("text.png"), std::string::npos) << e;
  EXPECT_NE(error_of(d.path()).find("directory"), std::string::npos);
}

TEST(ImageIo, TruncatedJpegIsRefused) {
  TempDir d;
  cv::Mat img(64, 64, CV_8UC3, cv::Scalar(10, 20, 30));
  cv::randu(img, 0, 255);
  std::vector<std::uint8_t> buf;
  cv::imencode(".jpg", img, buf);
  vlrtest::write_bytes(d / "ok.jpg", std::string(buf.begin(), buf.end()));
  EXPECT_EQ(vlrface::load_image(d / "ok.jpg").size(), img.size());
  vlrtest::write_bytes(d / "cut.jpg", std::string(buf.begin(), buf.begin() + buf.size() / 2));
  EXPECT_NE(error_of(d / "cut.jpg").find("truncated"), std::string::npos);
}

TEST(ImageIo, GreyAnd16BitBecome8BitBgr) {
  TempDir d;
  cv::Mat grey(20, 30, CV_8UC1, cv::Scalar(77));
  cv::imwrite((d / "g.png").string(), grey);
  cv::Mat g = vlrface::load_image(d / "g.png");
  EXPECT_EQ(g.type(), CV_8UC3);
  EXPECT_EQ(g.at<cv::Vec3b>(3, 3), cv::Vec3b(77, 77, 77));

  cv::Mat deep(20, 30, CV_16UC3, cv::Scalar(65535, 0, 257 * 100));
  cv::imwrite((d / "d.png").string(), deep);
  cv::Mat d8 = vlrface::load_image(d / "d.png");
  EXPECT_EQ(d8.type(), CV_8UC3);
  EXPECT_EQ(d8.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 0, 100));
}
