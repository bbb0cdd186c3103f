// Resolution-matched templates: Pipeline::embed_small is exactly the face path a small face of
// that size takes, and `vlrface eval --matched-templates` scores simulated and native rows with
// them.
#include <gtest/gtest.h>

#include <string>

#include "eval_run.hpp"
#include "model_env.hpp"
#include "vlrface/dataset.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/pipeline.hpp"

namespace {

vlrface::PipelineConfig config(int resolution, const std::string& upscaler, std::optional<bool> adapter) {
  vlrface::PipelineConfig pc;
  pc.resolution = resolution;
  pc.upscaler = upscaler;
  pc.adapter = adapter;
  return pc;
}

// The first ORL face, aligned at 112 px from its landmarks.
cv::Mat first_orl_face(vlrface::Pipeline& full, const vlrface::EvalDataset& d) {
  const auto& [file, lm] = *d.landmarks.begin();
  vlrface::Face face;
  face.landmarks = lm;
  const auto r = full.process(vlrface::load_image(d.root / file), {face});
  EXPECT_EQ(r.front().status, vlrface::FaceStatus::kOk) << file;
  return r.front().aligned;
}

}  // namespace

TEST(MatchedTemplates, EmbedSmallIsTheSmallFacesOwnPath) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  const vlrface::EvalDataset d = vlrface::load_eval_dataset(orl);
  vlrface::Pipeline full(store, config(vlrface::kResolutionFull, "bicubic", false));
  const cv::Mat aligned = first_orl_face(full, d);
  ASSERT_FALSE(aligned.empty());
  for (int px : {12, 16, 24}) {
    // Auto mode: what the manifest gives a camera's face of px, as simulate mode runs it.
    vlrface::Pipeline autom(store, config(vlrface::kResolutionAuto, "auto", std::nullopt));
    const vlrface::Recovery rc = autom.recovery_for(px);
    vlrface::Pipeline sim(store, config(px, rc.upscaler, rc.adapter));
    const std::vector<float> expected = sim.process_aligned(aligned).embedding;
    ASSERT_EQ(expected.size(), 512u);
    EXPECT_EQ(autom.embed_small(aligned, px), expected) << px << " px, " << rc.label();
    // Simulate mode: its own path at any size; full mode: bicubic and the base model.
    EXPECT_EQ(sim.embed_small(aligned, px), expected) << px << " px";
    vlrface::Pipeline plain(store, config(px, "bicubic", false));
    EXPECT_EQ(full.embed_small(aligned, px), plain.process_aligned(aligned).embedding) << px;
    if (rc.adapter) {
      EXPECT_NE(full.embed_small(aligned, px), expected) << "the adapter changes nothing at " << px;
    }
  }
  for (int bad : {3, 112}) {
    try {
      full.embed_small(aligned, bad);
      ADD_FAILURE() << "size " << bad << " accepted";
    } catch (const vlrface::Error& e) {
      EXPECT_EQ(e.stage(), "pipeline");
      EXPECT_NE(std::string(e.what()).find(std::to_string(bad)), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(full.embed_small(cv::Mat(), 16), vlrface::Error);
}

TEST(MatchedTemplates, EvalAddsMatchedRowsOnTheSameFaces) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_DATASET(orl, "orl");
  const vlrface::EvalDataset d = vlrface::load_eval_dataset(orl);
  vlrface::evaluation::RunOptions o;
  o.conditions = vlrface::evaluation::parse_simulated("112,16", "bicubic+adapter");
  for (const auto& c : vlrface::evaluation::parse_native("24", "base,auto")) o.conditions.push_back(c);
  o.detection.upsample = 2;
  o.native.canvas = cv::Size(320, 240);
  o.limit_folds = 2;
  o.jobs = 2;
  o.matched_sizes = {16, 24};
  const auto r = vlrface::evaluation::run(store, d, o);
  using Kind = vlrface::evaluation::Condition::Kind;
  auto row = [&](Kind kind, const std::string& path) -> const vlrface::evaluation::ConditionResult& {
    for (const auto& c : r.results) {
      if (c.condition.kind == kind && c.condition.path == path) return c;
    }
    throw std::runtime_error("no row " + path);
  };
  for (const std::string path : {"bicubic+adapter", "base", "auto"}) {
    const Kind kind = path == "bicubic+adapter" ? Kind::kSimulated : Kind::kNative;
    const auto& plain = row(kind, path);
    const auto& matched = row(kind, path + "+matched");
    EXPECT_EQ(matched.condition.label(), kind == Kind::kNative ? "24 px native " + path + "+matched"
                                                               : "16 px sim " + path + "+matched");
    ASSERT_TRUE(plain.hrlr && matched.hrlr && plain.lrlr && matched.lrlr);
    EXPECT_EQ(matched.found, plain.found);
    if (kind == Kind::kNative) EXPECT_GT(plain.found, plain.images / 2) << "ORL faces at 24 px are found";
    // The small faces are the same: LR-LR is untouched; only the full-resolution side changes.
    EXPECT_EQ(matched.lrlr->kfold.accuracy.mean, plain.lrlr->kfold.accuracy.mean) << path;
    ASSERT_EQ(matched.hrlr->scores.size(), plain.hrlr->scores.size());
    int changed = 0, missing = 0;
    for (std::size_t k = 0; k < plain.hrlr->scores.size(); ++k) {
      const double a = plain.hrlr->scores[k].score, b = matched.hrlr->scores[k].score;
      EXPECT_EQ(a == -1.0, b == -1.0) << "pair " << k << ": a face missing on one side only";
      missing += a == -1.0;
      changed += a != b;
      EXPECT_LE(std::abs(a - b), 0.5) << "pair " << k << ": a fused template moved far";
    }
    EXPECT_EQ(changed + missing, static_cast<int>(plain.hrlr->scores.size()))
        << "every found pair compares against a fused template";
    // Thresholds were calibrated for plain comparisons: none is claimed for matched rows.
    EXPECT_TRUE(plain.hrlr->product.has_value());
    EXPECT_FALSE(matched.hrlr->product.has_value());
    EXPECT_GT(matched.hrlr->kfold.accuracy.mean, 0.85) << path << ": ORL at 16 or 24 px";
  }
}
