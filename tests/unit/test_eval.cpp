// Evaluation metrics and dataset files on hand-made scores: every expected value is worked out in
// the comments, so a change of convention shows up as a failing number.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>

#include "test_util.hpp"
#include "vlrface/dataset.hpp"
#include "vlrface/error.hpp"
#include "vlrface/eval.hpp"
#include "vlrface/plot.hpp"

namespace ev = vlrface::eval;

namespace {

ev::ScoredPair G(double s, int fold = 0) {
  return {s, true, fold};
}
ev::ScoredPair I(double s, int fold = 0) {
  return {s, false, fold};
}

// Scores in sixteenths, exact in binary, so midpoints and comparisons are exact too.
constexpr double x16(double k) {
  return k / 16.0;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const vlrface::Error& e) {
    EXPECT_EQ(e.stage(), "eval");
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(EvalMetrics, AccuracyRejectsScoresEqualToTheThreshold) {
  const std::vector<ev::ScoredPair> p = {G(0.5), I(0.5), G(0.7), I(0.1)};
  EXPECT_DOUBLE_EQ(ev::accuracy_at(p, 0.5), 0.75);  // G(0.5) rejected, I(0.5) rejected
  EXPECT_DOUBLE_EQ(ev::accuracy_at(p, 0.4), 0.75);  // I(0.5) accepted
}

TEST(EvalMetrics, BestThresholdIsAMidpointAndTiesTakeTheSmallest) {
  // Sorted: I1 G2 I3 G4 (sixteenths). Accuracy: -inf 2/4, 1.5 3/4, 2.5 2/4, 3.5 3/4, +inf 2/4.
  const std::vector<ev::ScoredPair> p = {I(x16(1)), G(x16(2)), I(x16(3)), G(x16(4))};
  const ev::ThresholdChoice t = ev::best_threshold(p);
  EXPECT_DOUBLE_EQ(t.threshold, x16(1.5));
  EXPECT_DOUBLE_EQ(t.accuracy, 0.75);
  // Separable: the midpoint of the gap.
  const std::vector<ev::ScoredPair> q = {I(0.25), I(0.125), G(0.75), G(0.875)};
  EXPECT_DOUBLE_EQ(ev::best_threshold(q).threshold, 0.5);
  EXPECT_DOUBLE_EQ(ev::best_threshold(q).accuracy, 1.0);
}

TEST(EvalMetrics, AccuracyIsClassBalancedWhenImpostorsOutnumberGenuinePairs) {
  // 1 genuine, 3 impostors: at 0.5 the genuine pair is rejected (rate 0) and all impostors
  // rejected (rate 1): balanced 0.5, where the plain share would read 3/4.
  const std::vector<ev::ScoredPair> p = {G(0.5), I(0.25), I(0.125), I(0.375)};
  EXPECT_DOUBLE_EQ(ev::accuracy_at(p, 0.5), 0.5);
  EXPECT_DOUBLE_EQ(ev::accuracy_at(p, 0.3), 1.0 / 2 + 2.0 / 3 / 2);  // G in, I(0.375) in
  // The best threshold weighs the genuine pair as much as all the impostors. Sorted I1 G2 I3 I4
  // I5 (sixteenths): at 1.5 (G2 accepted, I1 rejected) (1 + 1/4) / 2 = 5/8; rejecting everything
  // (2.5 and up) 1/2. The plain share would take 2.5 (4/5 against 2/5).
  const std::vector<ev::ScoredPair> q = {I(x16(1)), G(x16(2)), I(x16(3)), I(x16(4)), I(x16(5))};
  const ev::ThresholdChoice t = ev::best_threshold(q);
  EXPECT_DOUBLE_EQ(t.threshold, x16(1.5));
  EXPECT_DOUBLE_EQ(t.accuracy, 5.0 / 8.0);
  // Only one class: the plain share (nothing to balance).
  const std::vector<ev::ScoredPair> r = {I(0.25), I(0.75)};
  EXPECT_DOUBLE_EQ(ev::accuracy_at(r, 0.5), 0.5);
}

TEST(EvalMetrics, KFoldChoosesEachThresholdOnTheOtherFolds) {
  // fold 0: G10 I3   fold 1: G8 I6   fold 2: G5 I7   (sixteenths)
  const std::vector<ev::ScoredPair> p = {G(x16(10), 0), I(x16(3), 0), G(x16(8), 1),
                                         I(x16(6), 1),  G(x16(5), 2), I(x16(7), 2)};
  const ev::KFoldResult r = ev::kfold_verification(p);
  ASSERT_EQ(r.folds.size(), 3u);
  // Fold 0, trained on G5 I6 I7 G8: best 7.5 (3/4); on fold 0 both right -> 1.
  EXPECT_DOUBLE_EQ(r.folds[0].threshold, x16(7.5));
  EXPECT_DOUBLE_EQ(r.folds[0].train_accuracy, 0.75);
  EXPECT_DOUBLE_EQ(r.folds[0].accuracy, 1.0);
  // Fold 1, trained on I3 G5 I7 G10: 4 and 8.5 both give 3/4, the smaller wins; G8 accepted,
  // I6 accepted -> 1/2.
  EXPECT_DOUBLE_EQ(r.folds[1].threshold, x16(4));
  EXPECT_DOUBLE_EQ(r.folds[1].train_accuracy, 0.75);
  EXPECT_DOUBLE_EQ(r.folds[1].accuracy, 0.5);
  // Fold 2, trained on I3 I6 G8 G10: 7 (4/4); G5 rejected, I7 = threshold rejected -> 1/2.
  EXPECT_DOUBLE_EQ(r.folds[2].threshold, x16(7));
  EXPECT_DOUBLE_EQ(r.folds[2].train_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r.folds[2].accuracy, 0.5);
  EXPECT_EQ(r.folds[2].pairs, 2);
  // Mean 2/3; deviations 1/3, -1/6, -1/6 -> sum of squares 1/6, / (3 - 1) -> std sqrt(1/12).
  EXPECT_DOUBLE_EQ(r.accuracy.mean, 2.0 / 3.0);
  EXPECT_NEAR(r.accuracy.std, std::sqrt(1.0 / 12.0), 1e-15);
}

TEST(EvalMetrics, KFoldNeedsTwoFolds) {
  const std::vector<ev::ScoredPair> p = {G(0.9), I(0.1)};
  EXPECT_NE(error_of([&] { ev::kfold_verification(p); }).find("two folds"), std::string::npos);
}

TEST(EvalMetrics, RocCurveAucAndEer) {
  // Genuine 0.9 0.8 0.4, impostor 0.5 0.3 0.2.
  const std::vector<ev::ScoredPair> p = {G(0.9), G(0.8), G(0.4), I(0.5), I(0.3), I(0.2)};
  const auto roc = ev::roc_curve(p);
  const std::vector<std::pair<double, double>> expected = {
      {0, 0}, {0, 1. / 3}, {0, 2. / 3}, {1. / 3, 2. / 3}, {1. / 3, 1}, {2. / 3, 1}, {1, 1}};
  ASSERT_EQ(roc.size(), expected.size());
  for (std::size_t i = 0; i < roc.size(); ++i) {
    EXPECT_DOUBLE_EQ(roc[i].far, expected[i].first) << i;
    EXPECT_DOUBLE_EQ(roc[i].tar, expected[i].second) << i;
  }
  EXPECT_DOUBLE_EQ(roc[0].threshold, 0.9);
  EXPECT_DOUBLE_EQ(roc[3].threshold, 0.4);
  EXPECT_TRUE(std::isinf(roc.back().threshold));
  // 8 of the 9 (genuine, impostor) pairs are ordered right: 0.4 < 0.5.
  EXPECT_DOUBLE_EQ(ev::roc_auc(p), 8.0 / 9.0);
  // FAR = FRR = 1/3 at the point (1/3, 2/3).
  EXPECT_DOUBLE_EQ(ev::equal_error_rate(p), 1.0 / 3.0);
}

TEST(EvalMetrics, AucCountsTiesAsOneHalf) {
  // Genuine 0.7 0.5 0.5, impostor 0.5 0.2: 0.7 wins 2; each 0.5 ties 0.5 (1/2) and wins 0.2 (1).
  const std::vector<ev::ScoredPair> p = {G(0.7), G(0.5), G(0.5), I(0.5), I(0.2)};
  EXPECT_DOUBLE_EQ(ev::roc_auc(p), 5.0 / 6.0);
  // Everything tied: a coin toss.
  EXPECT_DOUBLE_EQ(ev::roc_auc(std::vector<ev::ScoredPair>{G(0.3), G(0.3), I(0.3)}), 0.5);
}

TEST(EvalMetrics, EerInterpolatesBetweenRocPoints) {
  // Genuine 0.8 0.6 0.55, impostor 0.7 0.1. ROC: (0,0) (0,1/3) (1/2,1/3) (1/2,2/3) (1/2,1)
  // (1,1). far + tar: 0, 1/3, 5/6, 7/6, ...: crosses 1 on the vertical segment at FAR 1/2.
  const std::vector<ev::ScoredPair> p = {G(0.8), G(0.6), G(0.55), I(0.7), I(0.1)};
  EXPECT_DOUBLE_EQ(ev::equal_error_rate(p), 0.5);
  // Between (0, 0.5) and (0.5, 1) in a case where the segment is diagonal: genuine 0.9 0.5,
  // impostor 0.5 0.1. ROC: (0,0) (0,1/2) (1/2,1) (1,1); alpha = 1/2 / 1 -> FAR 1/4.
  const std::vector<ev::ScoredPair> q = {G(0.9), G(0.5), I(0.5), I(0.1)};
  EXPECT_DOUBLE_EQ(ev::equal_error_rate(q), 0.25);
}

TEST(EvalMetrics, ThresholdAndTarAtFar) {
  // Ten impostors 0.05 .. 0.95 (descending: 0.95 0.85 ... 0.05), genuine 0.99 0.9 0.8 0.3.
  std::vector<ev::ScoredPair> p = {G(0.99), G(0.9), G(0.8), G(0.3)};
  for (int i = 0; i < 10; ++i) p.push_back(I(0.05 + 0.1 * i));
  // FAR 0.1: one false accept allowed -> the second highest impostor, 0.85.
  EXPECT_DOUBLE_EQ(ev::threshold_at_far(p, 0.1), 0.05 + 0.1 * 8);
  const ev::RocPoint a = ev::tar_at_far(p, 0.1);
  EXPECT_DOUBLE_EQ(a.far, 0.1);  // 0.95 only
  EXPECT_DOUBLE_EQ(a.tar, 0.5);  // 0.99 0.9
  // FAR 0.05 and 0: no false accept -> the highest impostor, 0.95.
  EXPECT_DOUBLE_EQ(ev::threshold_at_far(p, 0.05), 0.05 + 0.1 * 9);
  EXPECT_DOUBLE_EQ(ev::threshold_at_far(p, 0.0), 0.05 + 0.1 * 9);
  EXPECT_DOUBLE_EQ(ev::tar_at_far(p, 0.0).tar, 0.25);
  EXPECT_DOUBLE_EQ(ev::tar_at_far(p, 0.0).far, 0.0);
  // 0.3 * 10 floors to 3 despite 0.3 * 10 = 3.0000000000000004 or 2.9999999999999996.
  EXPECT_DOUBLE_EQ(ev::threshold_at_far(p, 0.3), 0.05 + 0.1 * 6);
  // Tied impostors at the top: the threshold is the tie, so neither is accepted.
  const std::vector<ev::ScoredPair> t = {G(0.9), I(0.6), I(0.6), I(0.1), I(0.0)};
  EXPECT_DOUBLE_EQ(ev::threshold_at_far(t, 0.25), 0.6);
  EXPECT_DOUBLE_EQ(ev::tar_at_far(t, 0.25).far, 0.0);
  EXPECT_NE(error_of([&] { ev::threshold_at_far(p, 1.0); }).find("FAR"), std::string::npos);
}

TEST(EvalMetrics, MeanTemplateIsNormalisedAndSkipsMissingFaces) {
  const auto t = ev::mean_template({{1, 0}, {}, {0, 1}});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_FLOAT_EQ(t[0], std::sqrt(0.5f));
  EXPECT_FLOAT_EQ(t[1], std::sqrt(0.5f));
  EXPECT_TRUE(ev::mean_template({{}, {}}).empty());
}

TEST(EvalMetrics, ClosedSetRanks) {
  // Templates: the 6 unit axes. A probe's similarity to template j is its j-th component.
  std::vector<std::vector<float>> templates(6, std::vector<float>(6, 0.f));
  for (int j = 0; j < 6; ++j) templates[j][j] = 1.f;
  const std::vector<std::vector<float>> probes = {
      {1, .5f, 0, 0, 0, 0},            // label 0: rank 1
      {.9f, .5f, 0, 0, 0, 0},          // label 1: rank 2
      {.6f, .5f, .4f, .3f, .2f, .1f},  // label 5: rank 6, a miss even at rank 5
      {.5f, 0, .5f, 0, 0, 0},          // label 2: tied with template 0 -> rank 2
      {},                              // label 3: no face -> miss
      {0, 0, 0, 1, 0, 0},              // label -1: identity without a template -> miss
  };
  const ev::IdentificationResult r =
      ev::identify_closed_set(templates, probes, {0, 1, 5, 2, 3, -1}, 5);
  EXPECT_EQ(r.probes, 6);
  EXPECT_EQ(r.hits, (std::vector<int>{1, 3, 3, 3, 3}));
  EXPECT_DOUBLE_EQ(r.rank(1), 1.0 / 6);
  EXPECT_DOUBLE_EQ(r.rank(5), 3.0 / 6);
}

TEST(EvalMetrics, OpenSetSearchesAndTpirAtFpir) {
  // Templates: 4 unit axes; probes of unit length, so similarities are their components.
  std::vector<std::vector<float>> templates(4, std::vector<float>(4, 0.f));
  for (int j = 0; j < 4; ++j) templates[j][j] = 1.f;
  const std::vector<std::vector<float>> probes = {
      {.8f, .6f, 0, 0},  // label 0: named (0.8 beats 0.6); with its template out, best is 0.6
      {.8f, .6f, 0, 0},  // label 1: 0.6 loses to 0.8: never named correctly; non-mated 0.8
      {0, 0, 1, 0},      // label 2: named at 1.0; non-mated 0
      {},                // label 3: no face: neither a hit nor a false alarm
  };
  const ev::IdentificationResult r = ev::identify_closed_set(templates, probes, {0, 1, 2, 3}, 2);
  ASSERT_EQ(r.searches.size(), 4u);
  const double mated[] = {.8, -2, 1, -2}, nonmated[] = {.6, .8, 0, -2};
  for (int p = 0; p < 4; ++p) {
    EXPECT_NEAR(r.searches[p].mated, mated[p], 1e-6) << "probe " << p;
    EXPECT_NEAR(r.searches[p].nonmated, nonmated[p], 1e-6) << "probe " << p;
  }
  // FPIR 1/4: one alarm allowed -> threshold at the second-highest non-mated score, 0.6;
  // named above it: probes 0 (0.8) and 2 (1.0) -> TPIR 2/4; the alarm is probe 1's 0.8.
  const ev::RocPoint a = ev::tpir_at_fpir(r.searches, 0.25);
  EXPECT_NEAR(a.threshold, .6, 1e-6);
  EXPECT_DOUBLE_EQ(a.tar, 0.5);
  EXPECT_DOUBLE_EQ(a.far, 0.25);
  // FPIR 0: threshold 0.8 (a score equal to it is rejected): only probe 2 is named.
  const ev::RocPoint b = ev::tpir_at_fpir(r.searches, 0);
  EXPECT_NEAR(b.threshold, .8, 1e-6);
  EXPECT_DOUBLE_EQ(b.tar, 0.25);
  EXPECT_DOUBLE_EQ(b.far, 0);
  EXPECT_NE(error_of([] { ev::tpir_at_fpir({}, 0.1); }).find("probe searches"), std::string::npos);
  // Each probe at a threshold of its own (the product's per-face thresholds): probe 0 named
  // (0.8 > 0.7), probe 2 named (1.0 > 0.9), probe 1 a false alarm (0.8 > 0.7); probe 3 has no
  // face, so its threshold is left out of the mean.
  const std::vector<double> own = {.7, .7, .9, .1};
  const ev::RocPoint c = ev::open_set_at(r.searches, own);
  EXPECT_DOUBLE_EQ(c.tar, 0.5);
  EXPECT_DOUBLE_EQ(c.far, 0.25);
  EXPECT_NEAR(c.threshold, (.7 + .7 + .9) / 3, 1e-12);
  const std::vector<double> one = {.7};
  EXPECT_NE(error_of([&] { ev::open_set_at(r.searches, one); }).find("4 searches but 1"),
            std::string::npos);
}

TEST(EvalMetrics, GapShareAndPairedDifferences) {
  // Binary-exact accuracies: (15/16 - 14/16) / (16/16 - 14/16) = 1/2.
  EXPECT_DOUBLE_EQ(*ev::gap_recovered(x16(15), x16(14), 1.0), 0.5);
  EXPECT_DOUBLE_EQ(*ev::gap_recovered(x16(13), x16(14), 1.0), -0.5);  // worse than bicubic
  EXPECT_FALSE(ev::gap_recovered(0.8, 0.8, 0.8).has_value());
  const std::vector<double> a = {0.9, 0.8, 0.7}, b = {0.8, 0.8, 0.8};
  const ev::PairedDifference d = ev::paired_difference(a, b);
  EXPECT_NEAR(d.difference.mean, 0.0, 1e-15);
  EXPECT_NEAR(d.difference.std, 0.1, 1e-12);  // sqrt((0.01 + 0 + 0.01) / 2)
  const std::vector<double> c = {0.5};
  EXPECT_THROW(ev::paired_difference(a, c), vlrface::Error);
}

TEST(EvalDataset, ParsesLfwPairs) {
  std::istringstream in(
      "2\t1\nAlice\t1\t2\nAlice\t1\tBob\t3\n"
      "Carol\t2\t4\r\nBob\t1\tCarol\t1\n\n");
  const vlrface::PairsFile f = vlrface::parse_pairs(in, "pairs.txt");
  EXPECT_EQ(f.folds, 2);
  EXPECT_EQ(f.per_fold, 1);
  ASSERT_EQ(f.pairs.size(), 4u);
  EXPECT_EQ(f.pairs[0].first, "images/Alice/1.jpg");
  EXPECT_EQ(f.pairs[0].second, "images/Alice/2.jpg");
  EXPECT_TRUE(f.pairs[0].genuine);
  EXPECT_EQ(f.pairs[1].second, "images/Bob/3.jpg");
  EXPECT_FALSE(f.pairs[1].genuine);
  EXPECT_EQ(f.pairs[2].fold, 1);
  EXPECT_EQ(f.pairs[2].second, "images/Carol/4.jpg");  // the '\r' is gone
  EXPECT_EQ(f.pairs[3].line, 5);
}

TEST(EvalDataset, ParsesMoreImpostorsThanGenuinePairsPerFold) {
  std::istringstream in(
      "2\t1\t2\nAlice\t1\t2\nAlice\t1\tBob\t3\nAlice\t2\tBob\t1\n"
      "Carol\t2\t4\nBob\t1\tCarol\t1\nBob\t2\tCarol\t3\n");
  const vlrface::PairsFile f = vlrface::parse_pairs(in, "pairs.txt");
  EXPECT_EQ(f.per_fold, 1);
  EXPECT_EQ(f.impostors_per_fold, 2);
  ASSERT_EQ(f.pairs.size(), 6u);
  EXPECT_FALSE(f.pairs[2].genuine);
  EXPECT_EQ(f.pairs[2].fold, 0);
  EXPECT_TRUE(f.pairs[3].genuine);
  EXPECT_EQ(f.pairs[3].fold, 1);
  EXPECT_EQ(f.pairs[5].second, "images/Carol/3.jpg");
  std::istringstream lfw("1\t1\nA\t1\t2\nA\t1\tB\t2\n");
  EXPECT_EQ(vlrface::parse_pairs(lfw, "pairs.txt").impostors_per_fold, 1);  // LFW: M = N
  std::istringstream short_m("1\t1\t2\nA\t1\t2\nA\t1\tB\t2\n");
  EXPECT_NE(error_of([&] { vlrface::parse_pairs(short_m, "p.txt"); }).find("(1 folds of 1 + 2)"),
            std::string::npos);
}

TEST(EvalDataset, MalformedPairsNameFileAndLine) {
  auto parse = [](const std::string& text) {
    return error_of([&] {
      std::istringstream in(text);
      vlrface::parse_pairs(in, "d/pairs.txt");
    });
  };
  EXPECT_NE(parse("1\t1\nAlice\t1\tBob\t2\nA\t1\tB\t2\n").find("d/pairs.txt:2: expected a genuine"),
            std::string::npos);
  EXPECT_NE(parse("1\t1\nAlice\t1\tx\nA\t1\tB\t2\n").find("d/pairs.txt:2: an image number"),
            std::string::npos);
  EXPECT_NE(parse("1\t1\nAlice\t1\t2\n").find("ends after 1 pairs"), std::string::npos);
  EXPECT_NE(parse("1\t1\nA\t1\t2\nA\t1\tB\t2\nA\t2\t3\n").find("d/pairs.txt:4: more pairs"),
            std::string::npos);
  EXPECT_NE(parse("ten\t300\n").find("d/pairs.txt:1:"), std::string::npos);
}

TEST(EvalDataset, ParsesListsAndLandmarks) {
  std::istringstream list("images/a/1.jpg a\nimages/b/2.jpg  b\n");
  const auto l = vlrface::parse_image_list(list, "gallery.txt");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[1].file, "images/b/2.jpg");
  EXPECT_EQ(l[1].identity, "b");
  std::istringstream bad("images/a/1.jpg a\nimages/b/2.jpg\n");
  EXPECT_NE(error_of([&] { vlrface::parse_image_list(bad, "probe.txt"); }).find("probe.txt:2:"),
            std::string::npos);

  std::istringstream csv(
      "file,identity,x1,y1,x2,y2,x3,y3,x4,y4,x5,y5\n"
      "images/a/1.jpg,a,1.5,2,3,4,5,6,7,8,9,10.25\n");
  const auto lm = vlrface::parse_landmarks(csv, "landmarks.csv");
  ASSERT_EQ(lm.count("images/a/1.jpg"), 1u);
  EXPECT_FLOAT_EQ(lm.at("images/a/1.jpg")[0].x, 1.5f);
  EXPECT_FLOAT_EQ(lm.at("images/a/1.jpg")[4].y, 10.25f);
  std::istringstream bad_csv("file,identity\nimages/a/1.jpg,a,1,2,3,4,5,6,7,8,9,ten\n");
  EXPECT_NE(error_of([&] {
              vlrface::parse_landmarks(bad_csv, "landmarks.csv");
            }).find("landmarks.csv:2: a landmark coordinate"),
            std::string::npos);
}

TEST(EvalDataset, LoadsAFolderAndChecksImages) {
  vlrtest::TempDir d;
  for (const char* f : {"images/a/1.jpg", "images/a/2.jpg", "images/b/1.jpg"}) {
    std::filesystem::create_directories((d.path() / f).parent_path());
    vlrtest::write_bytes(d.path() / f, "not read at load time");
  }
  vlrtest::write_bytes(d / "pairs.txt", "2\t1\na\t1\t2\na\t1\tb\t1\na\t2\t1\na\t2\tb\t1\n");
  vlrtest::write_bytes(d / "gallery.txt", "images/a/1.jpg a\nimages/b/1.jpg b\n");
  vlrtest::write_bytes(d / "probe.txt", "images/a/2.jpg a\n");
  const vlrface::EvalDataset ds = vlrface::load_eval_dataset(d.path());
  EXPECT_TRUE(ds.has_pairs());
  EXPECT_TRUE(ds.has_identification());
  EXPECT_FALSE(ds.has_landmarks());
  EXPECT_EQ(ds.pairs.pairs.size(), 4u);

  vlrtest::write_bytes(d / "probe.txt", "images/a/2.jpg a\nimages/c/1.jpg c\n");
  EXPECT_NE(error_of([&] {
              vlrface::load_eval_dataset(d.path());
            }).find("probe.txt:2: identity 'c' has no gallery image"),
            std::string::npos);
  vlrtest::write_bytes(d / "probe.txt", "images/a/2.jpg a\nimages/b/7.jpg b\n");
  EXPECT_NE(error_of([&] { vlrface::load_eval_dataset(d.path()); }).find("probe.txt:2: "),
            std::string::npos);
  EXPECT_NE(error_of([&] { vlrface::load_eval_dataset(d.path()); }).find("does not exist"),
            std::string::npos);
  std::filesystem::remove(d / "gallery.txt");
  EXPECT_NE(error_of([&] { vlrface::load_eval_dataset(d.path()); }).find("come together"),
            std::string::npos);
}

TEST(EvalPlot, SvgFiguresAreWellFormedAndLabelled) {
  const std::vector<ev::ScoredPair> p = {G(0.9), G(0.8), G(0.4), I(0.5), I(0.3), I(0.2)};
  const std::string roc = vlrface::plot::roc_svg({{"32 px <bicubic>", ev::roc_curve(p)}}, "ROC");
  EXPECT_EQ(roc.rfind("<svg", 0), 0u);
  EXPECT_NE(roc.find("</svg>"), std::string::npos);
  EXPECT_NE(roc.find("32 px &lt;bicubic&gt;"), std::string::npos);  // escaped
  EXPECT_NE(roc.find("1e-3"), std::string::npos);
  const std::vector<double> g = {0.9, 0.8}, i = {0.1, -0.2};
  const std::string h = vlrface::plot::histogram_svg(g, i, "hist", 0.5);
  EXPECT_NE(h.find("genuine (2)"), std::string::npos);
  EXPECT_NE(h.find("threshold 0.500"), std::string::npos);
  EXPECT_NE(h.find("cosine similarity"), std::string::npos);
}
