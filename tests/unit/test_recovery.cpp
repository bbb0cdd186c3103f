// How "auto" picks the upscaler and adapter from the manifest, with no real model files.
#include <gtest/gtest.h>

#include "test_util.hpp"
#include <cmath>

#include "vlrface/align.hpp"
#include "vlrface/error.hpp"
#include "vlrface/models.hpp"
#include "vlrface/pipeline.hpp"

namespace {

using vlrtest::TempDir;

void add_model(const TempDir& d, const std::string& name, const std::string& kind,
               const std::string& extra = "") {
  vlrtest::write_bytes(d / (name + ".onnx"), name);  // a stand-in file: only its hash is read
  const std::string sha = vlrface::sha256_file(d / (name + ".onnx"));
  vlrtest::write_bytes(d / (name + ".json"), R"({"name":")" + name + R"(","kind":")" + kind +
                                                 R"(","file":")" + name + R"(.onnx","sha256":")" +
                                                 sha + R"(")" + extra + "}");
}

const std::string kRecovery =
    R"(,"recovery":{"cutoff_px":40,"sizes":{"16":{"upscaler":"dsr","adapter":true},)"
    R"("32":{"upscaler":"bicubic"}}})";

TEST(Recovery, AutoTakesTheManifestsRecommendation) {
  TempDir d;
  add_model(d, "emb", "embedder", kRecovery);
  add_model(d, "dsr16", "upscaler", R"(,"resolution":16)");
  add_model(d, "emb_r16", "embedder", R"(,"base":"emb","resolution":16)");
  vlrface::ModelStore store(d.path());
  auto r = vlrface::resolve_recovery(store, "emb", 16, "auto", std::nullopt);
  EXPECT_EQ(r.upscaler, "dsr");
  EXPECT_TRUE(r.adapter);
  r = vlrface::resolve_recovery(store, "emb", 32, "auto", std::nullopt);
  EXPECT_EQ(r.upscaler, "bicubic");
  EXPECT_FALSE(r.adapter);
  // Between recommendations, the nearest size's (ties: the smaller one's).
  r = vlrface::resolve_recovery(store, "emb", 24, "auto", std::nullopt);
  EXPECT_EQ(r.upscaler, "dsr");
  EXPECT_TRUE(r.adapter);
  r = vlrface::resolve_recovery(store, "emb", 25, "auto", std::nullopt);
  EXPECT_EQ(r.upscaler, "bicubic");
  EXPECT_FALSE(r.adapter);
  EXPECT_EQ(r.label(), "bicubic");
  // Explicit choices win over the recommendation, each on its own.
  r = vlrface::resolve_recovery(store, "emb", 16, "bicubic", std::nullopt);
  EXPECT_EQ(r.upscaler, "bicubic");
  EXPECT_TRUE(r.adapter);
  r = vlrface::resolve_recovery(store, "emb", 16, "auto", false);
  EXPECT_EQ(r.upscaler, "dsr");
  EXPECT_FALSE(r.adapter);
  EXPECT_EQ(store.manifest("emb").cutoff_px, 40);
}

TEST(Recovery, RangeStudentCoversItsSizesAndPerSizeAdaptersTheNearest) {
  TempDir d;
  add_model(d, "emb", "embedder");
  add_model(d, "emb_r16", "embedder", R"(,"base":"emb","resolution":16)");
  add_model(d, "emb_r32", "embedder", R"(,"base":"emb","resolution":32)");
  add_model(d, "other_lr", "embedder", R"(,"base":"other","sizes":[10,40])");
  vlrface::ModelStore store(d.path());
  EXPECT_EQ(store.adapter_for("emb", 18), "emb_r16");
  EXPECT_EQ(store.adapter_for("emb", 30), "emb_r32");
  EXPECT_EQ(store.adapter_for("other", 30), "other_lr");
  EXPECT_EQ(store.adapter_for("other", 50), "other_lr");  // the nearest, outside its range
  EXPECT_EQ(store.adapter_for("nobody", 16), "");
  add_model(d, "emb_lr", "embedder", R"(,"base":"emb","sizes":[12,40])");
  vlrface::ModelStore with_student(d.path());
  EXPECT_EQ(with_student.adapter_for("emb", 18), "emb_lr");  // a range student wins
  EXPECT_EQ(with_student.adapter_for("emb", 11), "emb_lr");  // 1 px outside it, r16 5 px away
  EXPECT_EQ(with_student.adapter_for("emb", 60), "emb_lr");
}

TEST(Recovery, ThresholdsArePerRecoveryPathAndNearestSize) {
  TempDir d;
  add_model(d, "emb", "embedder",
            R"(,"threshold":0.30,"thresholds":[{"px":16,"recovery":"bicubic+adapter","threshold":0.40},)"
            R"({"px":24,"recovery":"bicubic+adapter","threshold":0.35},)"
            R"({"px":16,"recovery":"bicubic","threshold":0.45}])" + kRecovery);
  vlrface::ModelStore store(d.path());
  const auto& m = store.manifest("emb");
  EXPECT_DOUBLE_EQ(m.threshold_for(16, "bicubic+adapter"), 0.40);
  EXPECT_DOUBLE_EQ(m.threshold_for(19, "bicubic+adapter"), 0.40);
  EXPECT_DOUBLE_EQ(m.threshold_for(21, "bicubic+adapter"), 0.35);
  EXPECT_DOUBLE_EQ(m.threshold_for(30, "bicubic"), 0.45);
  EXPECT_DOUBLE_EQ(m.threshold_for(16, "dsr"), 0.30) << "uncalibrated path: the base threshold";
  EXPECT_DOUBLE_EQ(m.threshold_for(112, "bicubic"), 0.30);
  EXPECT_DOUBLE_EQ(m.threshold_for(16, "base"), 0.30);
  // What a pipeline would judge a face with, with no model loaded.
  add_model(d, "emb_r16", "embedder", R"(,"base":"emb","resolution":16)");
  vlrface::ModelStore s2(d.path());
  EXPECT_FLOAT_EQ(vlrface::threshold_for(s2, "emb", vlrface::kResolutionAuto, "bicubic", true, 16),
                  0.40f);
  EXPECT_FLOAT_EQ(vlrface::threshold_for(s2, "emb", vlrface::kResolutionAuto, "bicubic", true, 60),
                  0.30f)
      << "above the cut-off: the base path";
  EXPECT_FLOAT_EQ(vlrface::threshold_for(s2, "emb", 16, "bicubic", false, 99), 0.45f)
      << "simulate: the simulated size counts";
  EXPECT_FLOAT_EQ(vlrface::threshold_for(s2, "emb", vlrface::kResolutionFull, "auto", true, 16),
                  0.30f);
}

// A camera's 16 px face and a simulated one need different thresholds for the same FAR: auto mode
// reads the native ones, simulate mode the simulated ones; either falls back to the other.
TEST(Recovery, NativeFacesHaveTheirOwnThresholds) {
  TempDir d;
  add_model(d, "emb", "embedder",
            R"(,"threshold":0.30,"thresholds":[{"px":16,"recovery":"bicubic","threshold":0.45},)"
            R"({"px":16,"recovery":"bicubic","threshold":0.25,"faces":"native"},)"
            R"({"px":24,"recovery":"dsr","threshold":0.33}])" + kRecovery);
  vlrface::ModelStore store(d.path());
  const auto& m = store.manifest("emb");
  EXPECT_DOUBLE_EQ(m.threshold_for(16, "bicubic", /*native=*/true), 0.25);
  EXPECT_DOUBLE_EQ(m.threshold_for(16, "bicubic", /*native=*/false), 0.45);
  EXPECT_DOUBLE_EQ(m.threshold_for(24, "dsr", /*native=*/true), 0.33) << "falls back";
  EXPECT_FLOAT_EQ(vlrface::threshold_for(store, "emb", vlrface::kResolutionAuto, "bicubic", false,
                                         17),
                  0.25f);
  EXPECT_FLOAT_EQ(vlrface::threshold_for(store, "emb", 16, "bicubic", false, 17), 0.45f);
  TempDir bad;
  add_model(bad, "emb", "embedder",
            R"(,"thresholds":[{"px":16,"recovery":"bicubic","threshold":0.4,"faces":"real"}])");
  try {
    vlrface::ModelStore s(bad.path());
    (void)s.manifest("emb");
    ADD_FAILURE() << "a threshold for unknown faces was accepted";
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find("must be native or simulated, not 'real'"),
              std::string::npos)
        << e.what();
  }
}

// Real small faces and simulated ones may be best served differently: simulate mode reads the
// manifest's "simulated" choice, auto mode "sizes".
TEST(Recovery, SimulatedFacesHaveTheirOwnChoice) {
  TempDir d;
  add_model(d, "emb", "embedder",
            R"(,"recovery":{"cutoff_px":40,"sizes":{"16":{"upscaler":"bicubic","adapter":false}},)"
            R"("simulated":{"16":{"upscaler":"dsr","adapter":true}}})");
  add_model(d, "dsr16", "upscaler", R"(,"resolution":16)");
  add_model(d, "emb_r16", "embedder", R"(,"base":"emb","resolution":16)");
  vlrface::ModelStore store(d.path());
  auto r = vlrface::resolve_recovery(store, "emb", 16, "auto", std::nullopt, /*native=*/true);
  EXPECT_EQ(r.label(), "bicubic");
  r = vlrface::resolve_recovery(store, "emb", 16, "auto", std::nullopt, /*native=*/false);
  EXPECT_EQ(r.label(), "dsr+adapter");
  // Without a "simulated" map, "sizes" serves both.
  TempDir one;
  add_model(one, "emb", "embedder", kRecovery);
  add_model(one, "dsr16", "upscaler", R"(,"resolution":16)");
  add_model(one, "emb_r16", "embedder", R"(,"base":"emb","resolution":16)");
  vlrface::ModelStore s1(one.path());
  EXPECT_EQ(vlrface::resolve_recovery(s1, "emb", 16, "auto", std::nullopt, false).label(),
            vlrface::resolve_recovery(s1, "emb", 16, "auto", std::nullopt, true).label());
}

TEST(Recovery, ResolutionNamesRoundTrip) {
  EXPECT_EQ(vlrface::parse_resolution("auto"), vlrface::kResolutionAuto);
  EXPECT_EQ(vlrface::parse_resolution("full"), vlrface::kResolutionFull);
  EXPECT_EQ(vlrface::parse_resolution("112"), vlrface::kResolutionFull);
  EXPECT_EQ(vlrface::parse_resolution("20"), 20);
  for (const char* bad : {"3", "112x", "", "-1", "nan", "200"}) {
    EXPECT_THROW((void)vlrface::parse_resolution(bad), vlrface::Error) << bad;
  }
  EXPECT_EQ(vlrface::resolution_name(vlrface::kResolutionAuto), "auto");
  EXPECT_EQ(vlrface::resolution_name(24), "24");
}

TEST(Recovery, NativeSizeIsTheTemplateCropWidthInTheSource) {
  vlrface::Landmarks lm = vlrface::kArcFaceTemplate;
  EXPECT_NEAR(vlrface::native_size(lm), 112.0, 1e-3);
  // The same face at a sixth of the size, turned by 30 degrees and moved: 112 / 6 px.
  const double a = 30 * CV_PI / 180;
  for (auto& p : lm) {
    const cv::Point2f q = p * (1.f / 6);
    p = cv::Point2f(static_cast<float>(q.x * std::cos(a) - q.y * std::sin(a) + 300),
                    static_cast<float>(q.x * std::sin(a) + q.y * std::cos(a) + 40));
  }
  EXPECT_NEAR(vlrface::native_size(lm), 112.0 / 6, 1e-3);
}

TEST(Recovery, AutoFallsBackWhenRecommendedModelsAreAbsent) {
  TempDir d;
  add_model(d, "emb", "embedder", kRecovery);
  vlrface::ModelStore store(d.path());
  const auto r = vlrface::resolve_recovery(store, "emb", 16, "auto", std::nullopt);
  EXPECT_EQ(r.upscaler, "bicubic");
  EXPECT_FALSE(r.adapter);
}

TEST(Recovery, ExplicitAdapterWithoutModelNamesIt) {
  TempDir d;
  add_model(d, "emb", "embedder");
  vlrface::ModelStore store(d.path());
  try {
    (void)vlrface::resolve_recovery(store, "emb", 24, "bicubic", true);
    FAIL() << "no adapted model: should throw";
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find("adapted embedder of 'emb'"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("24 px"), std::string::npos) << e.what();
  }
}

}  // namespace
