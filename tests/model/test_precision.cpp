// int8 on the real models: what OpenCV's Net::quantize makes of YuNet and EdgeFace here.
#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "model_env.hpp"
#include "vlrface/align.hpp"
#include "vlrface/dataset.hpp"
#include "vlrface/detect.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace fs = std::filesystem;
using vlrface::Precision;

namespace {

// Every `step`-th ORL image with its landmarks (sorted by file, so spread over people).
std::vector<std::pair<cv::Mat, vlrface::Landmarks>> orl_images(const fs::path& orl, int step,
                                                               int offset) {
  std::ifstream in(orl / "landmarks.csv");
  const auto rows = vlrface::parse_landmarks(in, "landmarks.csv");
  std::vector<std::pair<cv::Mat, vlrface::Landmarks>> out;
  int i = 0;
  for (const auto& [file, lm] : rows) {
    if (i++ % step == offset) out.emplace_back(vlrface::load_image(orl / file), lm);
  }
  return out;
}

}  // namespace

// `image` in the middle of a grey frame of `size`.
cv::Mat framed(const cv::Mat& image, cv::Size size) {
  cv::Mat frame(size, CV_8UC3, cv::Scalar::all(110));
  image.copyTo(frame(cv::Rect((size.width - image.cols) / 2, (size.height - image.rows) / 2,
                              image.cols, image.rows)));
  return frame;
}

TEST(Int8, YuNetQuantizesAndFindsTheSameFaces) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_DATASET(orl, "orl");
  vlrface::DetectorOptions fp32_options, int8_options;
  fp32_options.precision = Precision::kFp32;
  int8_options.precision = Precision::kInt8;
  // Crops and framed crops: int8 calibrated on crops alone lost every face framed by a flat
  // border (docs/BENCHMARKS.md). Different sizes also exercise the padding to one batch.
  bool frame_it = false;
  for (const auto& [image, lm] : orl_images(orl, 25, 0)) {
    int8_options.calibration.push_back(frame_it ? framed(image, {480, 360}) : image);
    frame_it = !frame_it;
  }
  ASSERT_EQ(int8_options.calibration.size(), 16u);
  vlrface::YuNetDetector fp32(store.get("yunet"), fp32_options);
  vlrface::YuNetDetector int8(store.get("yunet"), int8_options);
  EXPECT_EQ(int8.precision(), Precision::kInt8);
  EXPECT_EQ(int8.name(), "yunet int8");
  // Not calibration images; every other one in a frame of a size not calibrated on.
  int checked = 0;
  for (const auto& [image, lm] : orl_images(orl, 25, 12)) {
    const cv::Mat frame = checked % 2 ? framed(image, {640, 480}) : image;
    const auto a = fp32.detect(frame);
    const auto b = int8.detect(frame);
    ASSERT_EQ(a.size(), 1u) << checked;
    ASSERT_EQ(b.size(), 1u) << checked;
    EXPECT_NEAR(a[0].score, b[0].score, 0.05) << checked;
    // Alignment tolerates a few pixels (ORL eyes are ~30 px apart here); a broken int8 network
    // finds nothing or puts the points anywhere.
    const double eyes = vlrface::eye_distance(a[0].landmarks);
    for (std::size_t k = 0; k < 5; ++k) {
      EXPECT_LT(cv::norm(a[0].landmarks[k] - b[0].landmarks[k]), 0.2 * eyes) << checked << " " << k;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 16);
}

TEST(Int8, NoCalibrationIsAClearError) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  vlrface::DetectorOptions d;
  d.precision = Precision::kInt8;
  try {
    vlrface::YuNetDetector det(store.get("yunet"), d);
    FAIL();
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find("calibration"), std::string::npos) << e.what();
  }
  vlrface::EmbedderOptions o;
  o.precision = Precision::kInt8;
  try {
    vlrface::Embedder emb(store.get("edgeface_xxs"), o);
    FAIL();
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find("calibration"), std::string::npos) << e.what();
  }
}

// OpenCV 4.6 has no int8 Sqrt (EdgeFace's LayerNorm), so quantization must be refused with
// OpenCV's reason. Another OpenCV may quantize it: then int8 must agree with fp32.
TEST(Int8, EdgeFaceIsRefusedWithOpenCvsReasonOrAgreesWithFp32) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  vlrface::EmbedderOptions o;
  o.precision = Precision::kInt8;
  for (const auto& [image, lm] : orl_images(orl, 25, 0)) {
    o.calibration.push_back(vlrface::align_face(image, lm));
  }
  std::optional<vlrface::Embedder> int8;
  try {
    int8.emplace(store.get("edgeface_xxs"), o);
  } catch (const vlrface::Error& e) {
    const std::string w = e.what();
    EXPECT_EQ(e.stage(), "embed");
    EXPECT_NE(w.find("int8 unavailable in OpenCV " + cv::getVersionString()), std::string::npos)
        << w;
    std::cout << "[ int8 ] " << w << "\n";
    return;
  }
  vlrface::Embedder fp32(store.get("edgeface_xxs"), {.precision = Precision::kFp32});
  for (const auto& [image, lm] : orl_images(orl, 25, 12)) {
    const cv::Mat face = vlrface::align_face(image, lm);
    EXPECT_GT(vlrface::cosine(fp32.embed(face), int8->embed(face)), 0.9f);
  }
}
