// The eval report's table and JSON from a synthetic Report: no model, no dataset. The JSON is a
// format other tools read (tools/compare_models.py: results by kind/resolution/recovery, per-fold
// accuracies, identification, native detection), so its fields are pinned here.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "eval_report.hpp"

namespace vlrface::evaluation {
namespace {

// Ten folds of 20 pairs each; genuine pairs score `genuine`, impostors `impostor`, except that
// `wrong` genuine pairs per fold score like impostors.
Verification verification(double genuine, double impostor, int wrong) {
  Verification v;
  for (int fold = 0; fold < 10; ++fold) {
    for (int i = 0; i < 10; ++i) {
      v.scores.push_back({i < wrong ? impostor - 0.01 * i : genuine + 0.001 * i, true, fold});
      v.scores.push_back({impostor - 0.001 * i, false, fold});
    }
  }
  v.kfold = eval::kfold_verification(v.scores);
  v.auc = eval::roc_auc(v.scores);
  v.tar_1e2 = eval::tar_at_far(v.scores, 1e-2);
  v.tar_1e3 = eval::tar_at_far(v.scores, 1e-3);
  v.best_threshold = eval::best_threshold(v.scores).threshold;
  return v;
}

Report report() {
  Report rep;
  rep.model_id = "edgeface_xxs/0123abcd";
  rep.embedder_precision = "fp32";
  rep.detector_precision = "fp32";
  rep.folds = 10;
  rep.alignment.images = 400;
  rep.alignment.from_landmarks = 400;
  ConditionResult full;
  full.condition = {Condition::Kind::kFull, 0, "full"};
  full.lrlr = verification(0.8, 0.1, 0);
  ConditionResult native;
  native.condition = {Condition::Kind::kNative, 16, "base"};
  native.lrlr = verification(0.6, 0.2, 2);
  native.hrlr = verification(0.7, 0.2, 1);
  native.images = 400;
  native.found = 300;
  native.recoveries = {{"base", 300}};
  native.gap_hrlr = 0.25;
  rep.results = {full, native};
  return rep;
}

TEST(EvalReport, JsonCarriesEveryRowWithItsFoldsAndDetection) {
  RunOptions ro;
  ro.native.canvas = cv::Size(320, 240);
  const Report rep = report();
  const nlohmann::json j = report_json(rep, "/data/set", -1, ro);
  EXPECT_EQ(j["dataset"], "/data/set");
  EXPECT_EQ(j["model"], "edgeface_xxs/0123abcd");
  EXPECT_EQ(j["protocol"]["folds"], 10);
  EXPECT_EQ(j["protocol"]["native"]["canvas"], nlohmann::json({320, 240}));
  EXPECT_TRUE(j["protocol"]["native"]["h264_crf"].is_null());
  ASSERT_EQ(j["results"].size(), 2u);

  const auto& f = j["results"][0];
  EXPECT_EQ(f["kind"], "full");
  EXPECT_EQ(f["resolution"], 112);
  EXPECT_FALSE(f.contains("verification_hrlr"));
  EXPECT_DOUBLE_EQ(f["verification"]["accuracy"].get<double>(), 1.0);

  const auto& n = j["results"][1];
  EXPECT_EQ(n["kind"], "native");
  EXPECT_EQ(n["resolution"], 16);
  EXPECT_EQ(n["recovery"], "base");
  EXPECT_TRUE(n["upscaler"].is_null());  // only simulated rows had an upscaler
  EXPECT_DOUBLE_EQ(n["detection"]["rate"].get<double>(), 0.75);
  EXPECT_EQ(n["recoveries"]["base"], 300);
  EXPECT_DOUBLE_EQ(n["gap_recovered_hrlr"].get<double>(), 0.25);
  EXPECT_TRUE(n["gap_recovered"].is_null());
  // Per-fold accuracies are what compare_models.py pairs: one per fold, as the k-fold gave them.
  ASSERT_EQ(n["verification_hrlr"]["folds"].size(), 10u);
  for (int k = 0; k < 10; ++k) {
    EXPECT_DOUBLE_EQ(n["verification_hrlr"]["folds"][k]["accuracy"].get<double>(),
                     rep.results[1].hrlr->kfold.folds[k].accuracy);
    EXPECT_EQ(n["verification_hrlr"]["folds"][k]["fold"], k + 1);  // 1-based, as pairs.txt
  }
  EXPECT_DOUBLE_EQ(n["verification_hrlr"]["accuracy"].get<double>(),
                   rep.results[1].hrlr->kfold.accuracy.mean);
  EXPECT_LT(n["verification"]["accuracy"].get<double>(), 1.0);  // 2 wrong genuine pairs a fold
}

TEST(EvalReport, InfiniteThresholdsAreWrittenAsNull) {
  Report rep = report();
  rep.results[0].lrlr->tar_1e3.threshold = std::numeric_limits<double>::infinity();
  const nlohmann::json j = report_json(rep, "d", -1, RunOptions{});
  // JSON has no infinity (nlohmann would write null silently; Python's json reads "Infinity"
  // only from its own writer): the report says null on purpose.
  EXPECT_TRUE(j["results"][0]["verification"]["tar_at_far"]["1e-3"]["threshold"].is_null());
  EXPECT_TRUE(j["results"][0]["verification"]["tar_at_far"]["1e-2"]["threshold"].is_number());
}

TEST(EvalReport, TableHasOneLinePerRowWithFoundShareAndGap) {
  std::ostringstream os;
  print_report(os, report(), "/data/set", -1, 12.34, 2);
  const std::string t = os.str();
  EXPECT_NE(t.find("dataset  /data/set"), std::string::npos) << t;
  EXPECT_NE(t.find("model    edgeface_xxs/0123abcd (fp32)"), std::string::npos) << t;
  // The native row: 300 of 400 faces found (75.0 %); it is its size's reference row ("ref").
  std::istringstream lines(t);
  std::string line, native;
  while (std::getline(lines, line)) {
    if (line.rfind("native", 0) == 0) native = line;
  }
  ASSERT_FALSE(native.empty()) << t;
  EXPECT_NE(native.find(" 16 "), std::string::npos) << native;
  EXPECT_NE(native.find("75.0"), std::string::npos) << native;
  EXPECT_NE(native.find("ref"), std::string::npos) << native;
  EXPECT_NE(t.find("total 12.3 s with 2 jobs"), std::string::npos) << t;
}

}  // namespace
}  // namespace vlrface::evaluation
