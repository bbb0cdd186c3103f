// The real models: embedding parity with PyTorch, YuNet decoding, the pipeline on real faces.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "model_env.hpp"
#include "vlrface/align.hpp"
#include "vlrface/detect.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/pipeline.hpp"

namespace fs = std::filesystem;

class RealModels : public ::testing::TestWithParam<std::string> {};

// The converter (tools/convert_edgeface.py, run by setup) stores aligned real faces with the
// PyTorch float model's embeddings; the C++ embedder must reproduce them.
TEST_P(RealModels, EmbeddingsMatchPyTorchFloatModel) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, GetParam());
  const fs::path ref = store.dir() / "verify" / GetParam() / "reference.json";
  if (!fs::exists(ref)) {
    VLR_MISSING(ref << " absent: setup.sh writes it when VLRFACE_DATA holds orl");
  }
  nlohmann::json j;
  std::ifstream(ref) >> j;
  vlrface::Embedder emb(store.get(GetParam()));
  EXPECT_EQ(emb.dim(), 512);
  float worst = 1;
  int n = 0;
  for (const auto& f : j.at("faces")) {
    const cv::Mat face = vlrface::load_image(ref.parent_path() / f.at("file").get<std::string>());
    const auto expected = f.at("embedding").get<std::vector<float>>();
    worst = std::min(worst, vlrface::cosine(emb.embed(face), expected));
    ++n;
  }
  ASSERT_GE(n, 10);
  EXPECT_GE(worst, 0.9999f) << "worst cosine over " << n << " faces";
  std::cout << "[ parity ] " << GetParam() << ": " << n << " faces, worst cosine " << worst << "\n";
}

INSTANTIATE_TEST_SUITE_P(EdgeFace, RealModels, ::testing::Values("edgeface_xxs", "edgeface_xs"));

TEST(RealDetector, YuNetFindsOrlFacesWithTheDatasetsLandmarks) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_DATASET(orl, "orl");
  vlrface::YuNetDetector det(store.get("yunet"), {});
  std::ifstream csv(orl / "landmarks.csv");
  std::string line;
  std::getline(csv, line);  // header
  int checked = 0;
  while (std::getline(csv, line) && checked < 20) {
    std::stringstream ss(line);
    std::string file, id, v;
    std::getline(ss, file, ',');
    std::getline(ss, id, ',');
    vlrface::Landmarks expected;
    for (auto& p : expected) {
      std::getline(ss, v, ',');
      p.x = std::stof(v);
      std::getline(ss, v, ',');
      p.y = std::stof(v);
    }
    const auto faces = det.detect(vlrface::load_image(orl / file));
    ASSERT_FALSE(faces.empty()) << file;
    const auto& f = faces.front();
    EXPECT_GT(f.score, 0.6f);
    // The dataset's points came from YuNet on the uncropped source image, so a few pixels of
    // detector jitter are expected; a decoding bug (wrong stride, order or scale) is far larger.
    // (Those points were decoded before the half-pixel correction of detect.cpp, which moves
    // every point of an ORL image, enlarged 2.9x, by 0.33 px: 0.17, not 0.15, of the eyes.)
    const double eyes = vlrface::eye_distance(expected);
    double sum = 0;
    for (std::size_t k = 0; k < 5; ++k) {
      const double err = cv::norm(f.landmarks[k] - expected[k]);
      EXPECT_LT(err, 0.35 * eyes) << file << " landmark " << k;
      sum += err;
    }
    EXPECT_LT(sum / 5, 0.17 * eyes) << file;
    ++checked;
  }
  EXPECT_EQ(checked, 20);
}

TEST(RealDetector, NoFaceIsAnEmptyResultAndSeveralFacesAreAllFound) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  vlrface::Pipeline p(store, {});
  cv::Mat blank(240, 320, CV_8UC3, cv::Scalar(40, 90, 140));
  EXPECT_TRUE(p.process(blank).empty());
  cv::Mat a = vlrface::load_image(orl / "images/s01/1.jpg");
  cv::Mat b = vlrface::load_image(orl / "images/s02/1.jpg");
  cv::Mat both;
  cv::hconcat(a, b, both);
  const auto faces = p.process(both);
  ASSERT_EQ(faces.size(), 2u);
  for (const auto& f : faces) {
    EXPECT_EQ(f.status, vlrface::FaceStatus::kOk);
    EXPECT_EQ(f.embedding.size(), 512u);
  }
}

TEST(RealPipeline, LowResolutionSimulationKeepsIdentity) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  vlrface::Pipeline p(store, {});
  const auto ref = p.process(vlrface::load_image(orl / "images/s05/1.jpg"));
  ASSERT_EQ(ref.size(), 1u);
  for (int res : {32, 24, 16}) {
    p.set_resolution(res, "bicubic");
    const auto same = p.process(vlrface::load_image(orl / "images/s05/2.jpg"));
    const auto other = p.process(vlrface::load_image(orl / "images/s09/2.jpg"));
    ASSERT_EQ(same.size(), 1u);
    ASSERT_EQ(other.size(), 1u);
    EXPECT_EQ(same[0].lowres.size(), cv::Size(res, res));
    EXPECT_EQ(same[0].upscaled.size(), cv::Size(112, 112));
    EXPECT_GT(vlrface::cosine(ref[0].embedding, same[0].embedding),
              vlrface::cosine(ref[0].embedding, other[0].embedding))
        << res;
  }
}

// A face of `px` (native size) at `at` in the frame: the ArcFace template scaled so that the 112
// px crop covers px pixels (what native_size() measures).
static vlrface::Face face_of(float px, cv::Point2f at) {
  vlrface::Face f;
  f.score = 0.9f;
  const float k = px / 112.f;
  for (int i = 0; i < 5; ++i) f.landmarks[i] = at + vlrface::kArcFaceTemplate[i] * k;
  f.box = cv::Rect2f(at.x, at.y, px, px);
  return f;
}

TEST(RealPipeline, FacesNeedingTwoAdaptersLoadEachOncePerFrameInTheirOwnOrder) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_MODEL(store, "edgeface_xxs_r16");
  VLR_REQUIRE_MODEL(store, "edgeface_xxs_r32");
  vlrface::PipelineConfig c;
  c.resolution = vlrface::kResolutionAuto;
  vlrface::Pipeline p(store, c);
  if (p.cutoff_px() <= 32) GTEST_SKIP() << "the manifest's cut-off is " << p.cutoff_px();
  p.set_resolution(vlrface::kResolutionAuto, "bicubic", true);  // every small face adapted
  ASSERT_EQ(store.adapter_for("edgeface_xxs", 16), "edgeface_xxs_r16");
  ASSERT_EQ(store.adapter_for("edgeface_xxs", 32), "edgeface_xxs_r32");
  cv::Mat frame(240, 320, CV_8UC3);
  cv::randu(frame, 0, 255);
  // Alternating sizes: one network at a time, in this order, would load one per face.
  const std::vector<vlrface::Face> faces = {face_of(16, {10, 10}), face_of(32, {60, 10}),
                                            face_of(16, {110, 10}), face_of(32, {160, 10}),
                                            face_of(16, {10, 120})};
  std::size_t before = p.embedder_loads();
  for (int frame_no = 0; frame_no < 3; ++frame_no) {
    const auto out = p.process(frame, faces);
    const std::size_t loads = p.embedder_loads() - before;
    before = p.embedder_loads();
    EXPECT_LE(loads, 1u) << "frame " << frame_no;  // the other adapter, once
    if (frame_no > 0) EXPECT_EQ(loads, 1u) << "frame " << frame_no;
    ASSERT_EQ(out.size(), faces.size());
    for (std::size_t i = 0; i < faces.size(); ++i) {  // results in the order of `faces`
      EXPECT_EQ(out[i].face.box, faces[i].box) << i;
      EXPECT_EQ(out[i].working_px, i % 2 ? 32 : 16) << i;
      EXPECT_EQ(out[i].recovery, "bicubic+adapter") << i;
      EXPECT_EQ(out[i].embedding.size(), 512u) << i;
    }
    // Each face's embedding is its own: the same as processing it alone.
    const auto alone = p.process(frame, {faces[3]});
    EXPECT_GT(vlrface::cosine(alone[0].embedding, out[3].embedding), 0.9999f);
    before = p.embedder_loads();
  }
}
