// The trained DSR networks and adapted embedders (models/dsr, models/adapters) on real faces.
#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/imgproc.hpp>

#include "model_env.hpp"
#include "vlrface/align.hpp"
#include "vlrface/dataset.hpp"
#include "vlrface/degrade.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/pipeline.hpp"
#include "vlrface/upscale.hpp"

namespace fs = std::filesystem;

namespace {

// Aligned ORL faces (image 1 of the first `n` people), from the dataset's landmarks.
std::vector<cv::Mat> orl_faces(const fs::path& orl, int n) {
  std::ifstream csv(orl / "landmarks.csv");
  const auto marks = vlrface::parse_landmarks(csv, "landmarks.csv");
  std::vector<cv::Mat> out;
  for (int i = 1; i <= n; ++i) {
    char file[64];
    std::snprintf(file, sizeof file, "images/s%02d/1.jpg", i);
    const auto it = marks.find(file);
    if (it == marks.end()) continue;
    out.push_back(vlrface::align_face(vlrface::load_image(orl / file), it->second));
  }
  return out;
}

double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Scalar m = cv::mean(d);
  return (m[0] + m[1] + m[2]) / 3;
}

class Dsr : public ::testing::TestWithParam<int> {};

// A DSR output is a refined bicubic face: close to it, not equal to it, and at least as
// recognisable by the base EdgeFace (compared with the same face at full resolution).
TEST_P(Dsr, RefinesBicubicAndKeepsIdentity) {
  const int res = GetParam();
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, vlrface::dsr_model_name(res));
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  const auto faces = orl_faces(orl, 40);
  ASSERT_GE(faces.size(), 30u);
  auto dsr = vlrface::make_upscaler("dsr", res, store);
  EXPECT_EQ(dsr->name(), "dsr");
  vlrface::BicubicUpscaler bicubic;
  vlrface::Embedder emb(store.get("edgeface_xxs"));
  double cos_dsr = 0, cos_bic = 0, diff = 0;
  for (const cv::Mat& f : faces) {
    const cv::Mat small = vlrface::degrade(f, res);
    const cv::Mat up = dsr->upscale(small);
    ASSERT_EQ(up.size(), cv::Size(112, 112));
    ASSERT_EQ(up.type(), CV_8UC3);
    const cv::Mat bic = bicubic.upscale(small);
    diff += mean_abs_diff(up, bic);
    const auto full = emb.embed(f);
    cos_dsr += vlrface::cosine(emb.embed(up), full);
    cos_bic += vlrface::cosine(emb.embed(bic), full);
  }
  const double n = static_cast<double>(faces.size());
  diff /= n;
  cos_dsr /= n;
  cos_bic /= n;
  std::cout << "[ dsr" << res << " ] mean |dsr - bicubic| " << diff << " levels; cosine to the "
            << "112 px face: dsr " << cos_dsr << ", bicubic " << cos_bic << "\n";
  EXPECT_GT(diff, 0.2) << "DSR output is (nearly) bicubic: an untrained network?";
  EXPECT_LT(diff, 25) << "DSR output is far from its bicubic input";
  EXPECT_GE(cos_dsr, cos_bic - 0.01);
}

// The adapted embedder shares the base model's embedding space and gallery id.
TEST_P(Dsr, AdaptedEmbedderMatchesTheBaseGallery) {
  const int res = GetParam();
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  const std::string adapted = store.adapter_for("edgeface_xxs", res);
  ASSERT_FALSE(adapted.empty()) << "no adapted EdgeFace for " << res << " px in " << store.dir();
  VLR_REQUIRE_DATASET(orl, "orl");
  const auto faces = orl_faces(orl, 40);
  vlrface::PipelineConfig on{.resolution = res, .upscaler = "bicubic", .adapter = true};
  vlrface::PipelineConfig off{.resolution = res, .upscaler = "bicubic", .adapter = false};
  vlrface::Pipeline pa(store, on), pb(store, off);
  EXPECT_EQ(pa.model_id(), pb.model_id());
  EXPECT_TRUE(pa.config().adapter.value_or(false));
  double cos_a = 0, cos_b = 0, between = 0;
  for (const cv::Mat& f : faces) {
    const auto full = pb.embed_full(f);
    EXPECT_EQ(pa.embed_full(f), full) << "enrolment must use the base model";
    const auto ea = pa.process_aligned(f).embedding;
    const auto eb = pb.process_aligned(f).embedding;
    cos_a += vlrface::cosine(ea, full);
    cos_b += vlrface::cosine(eb, full);
    between += vlrface::cosine(ea, eb);
  }
  const double n = static_cast<double>(faces.size());
  std::cout << "[ " << adapted << " ] cosine to the 112 px face: adapted " << cos_a / n << ", base "
            << cos_b / n << "; adapted vs base " << between / n << "\n";
  EXPECT_LT(between / n, 0.9999) << "the adapter changes nothing";
  EXPECT_GT(between / n, 0.5) << "the adapter left the base model's embedding space";
  EXPECT_GE(cos_a / n, cos_b / n - 0.01);

  // Holding one EdgeFace at a time (the live server's choice) swaps the base model in for
  // enrolment and the adapted one back for probes: the same embeddings either way.
  vlrface::PipelineConfig one = on;
  one.one_embedder = true;
  vlrface::Pipeline po(store, one);
  for (std::size_t i = 0; i < 6; ++i) {
    const cv::Mat& f = faces[i];
    EXPECT_GT(vlrface::cosine(po.process_aligned(f).embedding, pa.process_aligned(f).embedding),
              0.99999f);
    EXPECT_GT(vlrface::cosine(po.embed_full(f), pb.embed_full(f)), 0.99999f);
  }
}

INSTANTIATE_TEST_SUITE_P(Resolutions, Dsr, ::testing::Values(16, 24, 32));

// The picture network (dsr_view): a person looking at the live view sees it, so it must be a
// better picture than bicubic, as numbers: higher PSNR against the 112 px face at every size it
// serves, on most faces, not only on average (ORL: validation data, never trained on).
TEST(DsrView, IsABetterPictureThanBicubicAtEverySize) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, vlrface::kViewUpscalerModel);
  VLR_REQUIRE_DATASET(orl, "orl");
  const auto faces = orl_faces(orl, 40);
  ASSERT_GE(faces.size(), 30u);
  const auto view = vlrface::make_view_upscaler(store);
  ASSERT_NE(view, nullptr);
  vlrface::BicubicUpscaler bicubic;
  for (int res : {12, 16, 24, 32}) {
    double gain = 0;
    int better = 0;
    for (const cv::Mat& f : faces) {
      const cv::Mat small = vlrface::degrade(f, res);
      const cv::Mat pic = view->upscale(small);
      ASSERT_EQ(pic.size(), cv::Size(112, 112));
      const double d = cv::PSNR(pic, f) - cv::PSNR(bicubic.upscale(small), f);
      gain += d;
      better += d > 0;
    }
    gain /= static_cast<double>(faces.size());
    std::cout << "[ dsr_view ] " << res << " px: PSNR +" << gain << " dB over bicubic, better on "
              << better << " of " << faces.size() << " faces\n";
    EXPECT_GT(gain, 0.2) << res << " px";
    EXPECT_GE(better, static_cast<int>(faces.size() * 8 / 10)) << res << " px";
  }
  // Recognition never picks it: the per-size DSR networks serve "dsr".
  for (int res : {12, 16, 24, 32, 40}) {
    EXPECT_NE(store.upscaler_for(res), vlrface::kViewUpscalerModel) << res << " px";
  }
}

TEST(DsrFile, AnotherNetworkIsRejectedAtLoadNamingTheFile) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  vlrface::ModelInfo wrong = store.get("edgeface_xxs");  // a 112x112-input network, not a DSR
  wrong.name = "dsr16";
  wrong.norm.swap_rb = false;
  try {
    vlrface::DsrUpscaler up(wrong);
    FAIL() << "EdgeFace accepted as a DSR network";
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find(wrong.path.string()), std::string::npos) << e.what();
  }
}

}  // namespace
