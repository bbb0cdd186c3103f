// detect_in_canvas: an image is fitted into a fixed-size frame for a detector, and what the
// detector finds maps back to the image's pixels. A fake detector stands in for YuNet.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "vlrface/detect.hpp"

namespace {

// Finds the one bright square of a frame (its bounding box) and puts the five landmarks at
// fixed fractions of it; records the frame it was given.
class SquareFinder final : public vlrface::Detector {
 public:
  std::vector<vlrface::Face> detect(const cv::Mat& bgr) override {
    seen = bgr.clone();
    cv::Mat grey, mask;
    cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
    cv::threshold(grey, mask, 128, 255, cv::THRESH_BINARY);
    const cv::Rect r = cv::boundingRect(mask);
    if (r.empty()) return {};
    vlrface::Face f;
    f.box = cv::Rect2f(r);
    f.score = 1;
    for (int k = 0; k < 5; ++k) {
      f.landmarks[static_cast<std::size_t>(k)] =
          cv::Point2f(r.x + r.width * (0.2f + 0.15f * k), r.y + r.height * 0.5f);
    }
    return {f};
  }
  std::string name() const override { return "squares"; }
  cv::Mat seen;
};

cv::Mat image_with_square(cv::Size size, cv::Rect square) {
  cv::Mat m(size, CV_8UC3, cv::Scalar(30, 30, 30));
  m(square).setTo(cv::Scalar(250, 250, 250));
  return m;
}

void expect_box_near(const cv::Rect2f& got, const cv::Rect& want, float tol) {
  EXPECT_NEAR(got.x, want.x, tol);
  EXPECT_NEAR(got.y, want.y, tol);
  EXPECT_NEAR(got.width, want.width, tol);
  EXPECT_NEAR(got.height, want.height, tol);
}

TEST(DetectInCanvas, LargeImageIsShrunkIntoTheCanvasAndMappedBack) {
  SquareFinder det;
  const cv::Rect square(1200, 300, 400, 400);
  const cv::Mat img = image_with_square({1920, 1080}, square);
  const auto faces = vlrface::detect_in_canvas(det, img, {640, 480});
  EXPECT_EQ(det.seen.size(), cv::Size(640, 480)) << "the detector always sees the canvas size";
  ASSERT_EQ(faces.size(), 1u);
  expect_box_near(faces[0].box, square, 4);  // one canvas pixel is 3 image pixels
  EXPECT_NEAR(faces[0].landmarks[4].x, 1200 + 400 * 0.8f, 4);
  // Below the fitted image the canvas is black padding.
  EXPECT_EQ(cv::countNonZero(det.seen.rowRange(361, 480).reshape(1)), 0);
}

TEST(DetectInCanvas, SmallImageIsEnlargedAsTheDetectorWouldThenPadded) {
  SquareFinder det;
  const cv::Rect square(60, 50, 100, 120);
  const cv::Mat img = image_with_square({250, 250}, square);
  const auto faces = vlrface::detect_in_canvas(det, img, {640, 480}, 320);
  EXPECT_EQ(det.seen.size(), cv::Size(640, 480));
  // Enlarged to 320 px, not to the canvas: the detector's own rule for small frames.
  EXPECT_EQ(cv::countNonZero(det.seen.colRange(330, 640).reshape(1) > 100), 0);
  ASSERT_EQ(faces.size(), 1u);
  expect_box_near(faces[0].box, square, 1.5f);
}

TEST(DetectInCanvas, TallImageFitsByHeightAndAnEmptyCanvasChangesNothing) {
  SquareFinder det;
  const cv::Rect square(100, 700, 200, 200);
  const cv::Mat img = image_with_square({400, 1000}, square);
  auto faces = vlrface::detect_in_canvas(det, img, {640, 480});
  EXPECT_EQ(det.seen.size(), cv::Size(640, 480));
  ASSERT_EQ(faces.size(), 1u);
  expect_box_near(faces[0].box, square, 3);
  faces = vlrface::detect_in_canvas(det, img, {});
  EXPECT_EQ(det.seen.size(), img.size());
  ASSERT_EQ(faces.size(), 1u);
  expect_box_near(faces[0].box, square, 0);
}

TEST(DetectInCanvas, NoFaceIsAnEmptyResult) {
  SquareFinder det;
  const cv::Mat img(300, 300, CV_8UC3, cv::Scalar(10, 10, 10));
  EXPECT_TRUE(vlrface::detect_in_canvas(det, img, {640, 480}).empty());
}

vlrface::Face face_at(float x, float y) {
  vlrface::Face f;
  // Five points whose mean is (x, y), spread like a face's.
  const float dx[5] = {-4, 4, 0, -3, 3}, dy[5] = {-3, -3, 0, 3, 3};
  for (int k = 0; k < 5; ++k) f.landmarks[static_cast<std::size_t>(k)] = {x + dx[k], y + dy[k]};
  return f;
}

TEST(NearestFace, TakesTheNearestLandmarkCentreWithinTheLimit) {
  const std::vector<vlrface::Face> faces = {face_at(10, 10), face_at(30, 10), face_at(22, 10)};
  EXPECT_NEAR(vlrface::landmark_centre(faces[1]).x, 30.f, 1e-5f);
  EXPECT_NEAR(vlrface::landmark_centre(faces[1]).y, 10.f, 1e-5f);
  EXPECT_EQ(vlrface::nearest_face(faces, {27, 10}, 10), &faces[1]);  // 3 px, not 5 px
  EXPECT_EQ(vlrface::nearest_face(faces, {19, 10}, 10), &faces[2]);
  EXPECT_EQ(vlrface::nearest_face(faces, {50, 50}, 10), nullptr);   // all too far
  EXPECT_EQ(vlrface::nearest_face(faces, {13, 10}, 3), nullptr);    // 3 px is not within 3
  EXPECT_EQ(vlrface::nearest_face({}, {0, 0}, 100), nullptr);
}

}  // namespace
