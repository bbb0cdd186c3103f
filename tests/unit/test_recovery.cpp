// How "auto" picks the upscaler and adapter from the manifest, with no real model files.
#include <gtest/gtest.h>

#include "test_util.hpp"
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
    R"(,"recovery":{"16":{"upscaler":"dsr","adapter":true},"32":{"upscaler":"bicubic"}})";

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
  // No recommendation for 24 px: bicubic, base embedder.
  r = vlrface::resolve_recovery(store, "emb", 24, "auto", std::nullopt);
  EXPECT_EQ(r.upscaler, "bicubic");
  EXPECT_FALSE(r.adapter);
  // Explicit choices win over the recommendation, each on its own.
  r = vlrface::resolve_recovery(store, "emb", 16, "bicubic", std::nullopt);
  EXPECT_EQ(r.upscaler, "bicubic");
  EXPECT_TRUE(r.adapter);
  r = vlrface::resolve_recovery(store, "emb", 16, "auto", false);
  EXPECT_EQ(r.upscaler, "dsr");
  EXPECT_FALSE(r.adapter);
  // Full resolution never upscales or adapts.
  r = vlrface::resolve_recovery(store, "emb", 0, "auto", std::nullopt);
  EXPECT_FALSE(r.adapter);
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
    EXPECT_NE(std::string(e.what()).find("emb_r24"), std::string::npos) << e.what();
  }
  EXPECT_EQ(vlrface::adapted_model_name("edgeface_xxs", 16), "edgeface_xxs_r16");
}

}  // namespace
