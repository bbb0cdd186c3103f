// The live settings check (check_live_settings) without models: every refusal names the bad
// value, and a good setting that needs no model passes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "live_settings.hpp"
#include "vlrface/error.hpp"

namespace vlrface::live {
namespace {

const ModelStore& no_models() {
  static const ModelStore store("/nonexistent-model-dir");
  return store;
}

// Simulate mode at full resolution needs no recovery model, so it checks the values alone.
LiveSettings full_resolution() {
  LiveSettings s;
  s.mode = "simulate";
  s.resolution = 0;
  return s;
}

std::string refusal(const LiveSettings& s, const Matcher* gallery = nullptr) {
  const std::string embedder = "edgeface_xxs";
  try {
    check_live_settings(s, {.store = no_models(), .embedder = embedder, .gallery = gallery,
                            .gallery_shown = "gallery.db"});
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LiveSettingsCheck, AGoodSettingPasses) {
  EXPECT_EQ(refusal(full_resolution()), "");
  LiveSettings s = full_resolution();
  s.threshold = 0.4f;
  s.upscaler = "dsr";  // no DSR is needed at full resolution
  EXPECT_EQ(refusal(s), "");
}

TEST(LiveSettingsCheck, EachBadValueIsNamed) {
  LiveSettings s = full_resolution();
  s.mode = "dream";
  EXPECT_NE(refusal(s).find("'dream'"), std::string::npos) << refusal(s);
  s = full_resolution();
  s.resolution = 112;
  EXPECT_NE(refusal(s).find("resolution 112 out of range"), std::string::npos) << refusal(s);
  s.resolution = 3;
  EXPECT_NE(refusal(s).find("resolution 3"), std::string::npos) << refusal(s);
  s = full_resolution();
  s.task = "guess";
  EXPECT_NE(refusal(s).find("'guess'"), std::string::npos) << refusal(s);
  s = full_resolution();
  s.threshold = 1.5f;
  EXPECT_NE(refusal(s).find("threshold"), std::string::npos) << refusal(s);
  s.threshold = std::nanf("");
  EXPECT_NE(refusal(s).find("threshold"), std::string::npos) << refusal(s);
  s = full_resolution();
  s.upscaler = "magic";
  EXPECT_NE(refusal(s).find("'magic'"), std::string::npos) << refusal(s);
}

TEST(LiveSettingsCheck, VerifyNeedsAnEnrolledPerson) {
  const Matcher gallery({{"ada", std::vector<float>{1, 0, 0}}});
  LiveSettings s = full_resolution();
  s.task = "verify";
  EXPECT_NE(refusal(s, &gallery).find("needs the name"), std::string::npos);
  s.verify_name = "bob";
  EXPECT_NE(refusal(s, &gallery).find("'bob' is not enrolled in gallery.db"), std::string::npos)
      << refusal(s, &gallery);
  EXPECT_NE(refusal(s).find("not enrolled"), std::string::npos);  // no gallery loaded
  s.verify_name = "ada";
  EXPECT_EQ(refusal(s, &gallery), "");
}

TEST(LiveSettingsCheck, ARecoveryModelTheSettingNeedsMustExist) {
  // Simulated 16 px and native mode both need the embedder's manifest (and what it names).
  LiveSettings s = full_resolution();
  s.resolution = 16;
  EXPECT_NE(refusal(s).find("edgeface_xxs"), std::string::npos) << refusal(s);
  s = LiveSettings{};  // native
  EXPECT_NE(refusal(s).find("edgeface_xxs"), std::string::npos) << refusal(s);
}

TEST(LiveSettingsCheck, PipelineResolution) {
  LiveSettings s = full_resolution();
  s.resolution = 24;
  EXPECT_EQ(pipeline_resolution(s), 24);
  s.mode = "native";
  EXPECT_EQ(pipeline_resolution(s), kResolutionAuto);
}

}  // namespace
}  // namespace vlrface::live
