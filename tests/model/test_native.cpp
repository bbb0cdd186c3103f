// Real tiny faces: LFW images shrunk whole so that their faces are 16 px wide in a camera frame,
// through the one face path (detection, alignment at the face's own size, recovery, embedding).
// LFW is used here for checking only: nothing is chosen on it.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <set>
#include <sstream>

#include "eval_run.hpp"
#include "model_env.hpp"
#include "vlrface/dataset.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/pipeline.hpp"

namespace fs = std::filesystem;

namespace {

class TempFolder {
 public:
  TempFolder() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("vlrface-native-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempFolder() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The first `per_fold` genuine and impostor pairs of LFW's first two folds, beside links to its
// images and landmarks: a small dataset in the same layout. With probe_every > 0, also every
// probe_every-th probe of LFW's identification protocol and the gallery images of those probes'
// identities (a closed set of as many identities as probes).
fs::path lfw_subset(const fs::path& lfw, const fs::path& out, int per_fold, int probe_every = 0) {
  std::ifstream in(lfw / "pairs.txt");
  int folds = 0, n = 0;
  in >> folds >> n;
  std::string line;
  std::getline(in, line);
  std::ostringstream pairs;
  pairs << 2 << "\t" << per_fold << "\n";
  for (int f = 0; f < 2; ++f) {
    for (int half = 0; half < 2; ++half) {
      for (int i = 0; i < n; ++i) {
        std::getline(in, line);
        if (i < per_fold) pairs << line << "\n";
      }
    }
  }
  std::ofstream(out / "pairs.txt") << pairs.str();
  if (probe_every > 0) {
    std::ifstream probes(lfw / "probe.txt"), gallery(lfw / "gallery.txt");
    std::set<std::string> who;
    std::ofstream p(out / "probe.txt"), g(out / "gallery.txt");
    std::string file, id;
    for (int i = 0; probes >> file >> id; ++i) {
      if (i % probe_every == 0) p << file << " " << id << "\n", who.insert(id);
    }
    while (gallery >> file >> id) {
      if (who.count(id)) g << file << " " << id << "\n";
    }
  }
  fs::create_symlink(lfw / "images", out / "images");
  fs::create_symlink(lfw / "landmarks.csv", out / "landmarks.csv");
  return out;
}

const vlrface::evaluation::ConditionResult& row(const vlrface::evaluation::Report& r,
                                                const std::string& path) {
  for (const auto& c : r.results) {
    if (c.condition.kind == vlrface::evaluation::Condition::Kind::kNative &&
        c.condition.path == path) {
      return c;
    }
  }
  throw std::runtime_error("no native row " + path);
}

}  // namespace

// 200 pairs and 613 probes, faces 16 px wide in a 640x480 frame, through the product's path
// (auto: recovery from the face's own size) and the base path (aligned straight to 112 px, base
// model). What it can promise today (docs/EVALUATION.md, "LFW: native faces"): YuNet on the 2x
// frame finds nearly every face, sizes are measured within 15 %, every face takes the recovery
// chosen for its size on validation, and
// - identification against a gallery enrolled at full resolution (how the product is used) is
//   better than the base path's: on all of LFW (4,903 probes; the models retrained on the
//   cleaned data, 2026-11-29 night, docs/EVALUATION.md "LFW with the retrained models") rank-1
//   is 74.20 % against 72.51 % (+1.7 points). On every 8th probe (613, against the gallery of
//   their identities) a difference has a standard error of about 1.3 points, so this test asks
//   only that auto is ahead: what a broken adapter, threshold or alignment would lose at once
//   (the first models, whose data held LFW people, read +4.0 points on all of LFW and were held
//   to +1 here);
// - at the decisions the product makes (each face judged with the threshold calibrated on
//   validation for its size and recovery) the genuine half of the 200 pairs is accepted no less
//   often (on all of LFW 69.40 % against 69.97 %, FAR 0 and 0.03 %: the adapter's threshold is
//   the stricter one): non-inferiority, 3 of the 100 genuine pairs, with at most 1 of the 100
//   impostors accepted;
// - accuracy at the best threshold costs nothing: on all 6,000 LFW pairs auto is ahead by 0.18
//   ± 0.57 points per fold (sample std), which 200 pairs cannot show: non-inferiority only.
TEST(NativeFaces, SixteenPixelLfwFacesAreFoundMeasuredAndRecovered) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_DATASET(lfw, "lfw");
  TempFolder tmp;
  const auto dataset = vlrface::load_eval_dataset(lfw_subset(lfw, tmp.path(), 50, 8));
  ASSERT_EQ(dataset.probe.size(), 613u);
  vlrface::evaluation::RunOptions o;
  o.conditions = vlrface::evaluation::parse_native("16", "base,auto");
  o.detection.upsample = 2;  // detection is measured elsewhere: here, what recovery adds
  o.jobs = 2;
  const vlrface::evaluation::Report r = vlrface::evaluation::run(store, dataset, o);
  const auto& base = row(r, "base");
  const auto& aut = row(r, "auto");
  ASSERT_EQ(base.hrlr->scores.size(), 200u);
  ASSERT_TRUE(base.identification && aut.identification);
  ASSERT_TRUE(base.hrlr->product && aut.hrlr->product);
  const double found = static_cast<double>(base.found) / base.images;
  const double acc_base = base.hrlr->kfold.accuracy.mean;
  const double acc_auto = aut.hrlr->kfold.accuracy.mean;
  const double r1_base = base.identification->rank(1), r1_auto = aut.identification->rank(1);
  std::cout << "[ native 16 px, LFW subset ] found " << 100 * found << " %; 200 pairs HR-LR: "
            << "accuracy base " << 100 * acc_base << " %, auto " << 100 * acc_auto << " %, AUC "
            << base.hrlr->auc << " and " << aut.hrlr->auc << "; " << aut.identification->probes
            << " probes: rank-1 base " << 100 * r1_base << " %, auto " << 100 * r1_auto
            << " %; native size error " << 100 * aut.native_px_error << " %; at the product's "
            << "thresholds: base TAR " << 100 * base.hrlr->product->tar << " % FAR "
            << 100 * base.hrlr->product->far << " %, auto TAR " << 100 * aut.hrlr->product->tar
            << " % FAR " << 100 * aut.hrlr->product->far << " %\n";
  EXPECT_GT(found, 0.9) << "YuNet on the 2x frame should find nearly every 16 px face";
  // Every face embedded took the recovery of about its own size, none the base path; a found
  // face may be refused as too small (alignment rejects its landmarks: 1 of 911 here).
  int recovered = 0, embedded = 0;
  std::string ran;
  for (const auto& [what, count] : aut.recoveries) {
    if (what.find("base") == std::string::npos) recovered += count;
    embedded += count;
    ran += what + " x" + std::to_string(count) + "; ";
  }
  EXPECT_EQ(recovered, embedded) << ran;
  EXPECT_GE(embedded, aut.found - aut.found / 100) << ran;
  EXPECT_GT(r1_auto, r1_base) << "the product's path should identify 16 px faces better";
  EXPECT_GE(aut.hrlr->product->tar, base.hrlr->product->tar - 0.03 - 1e-9)
      << "the product's path should accept as many genuine 16 px pairs at its thresholds";
  EXPECT_LE(aut.hrlr->product->far, 0.01) << "more than 1 of 100 impostor pairs accepted";
  // Non-inferiority, 2 points, on these 200 pairs (measured 2026-11-29 night, retrained models:
  // base 93 %, auto 93 %, AUC 0.9794 and 0.9777; at the product's thresholds TAR 66 and 69 %, no
  // impostor accepted; 613 probes: rank-1 87.1 and 87.9 %; the first models: AUC 0.9808, TAR
  // 75 %, rank-1 89.9 %; before the landmark fixes of the
  // detector, 2026-11-28: 89 and 90 %, AUC 0.9596 and 0.9613). Both paths are scored with
  // thresholds chosen on the other fold.
  EXPECT_GE(acc_auto, acc_base - 0.02);
  EXPECT_GT(acc_auto, 0.90) << "16 px faces recognised far worse than measured (landmarks?)";
  EXPECT_LT(aut.native_px_error, 0.15);
}

// `identify --json` reports each face's measured size: within 15 % of where the face was put.
TEST(NativeFaces, IdentifyReportsTheNativeSize) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_DATASET(lfw, "lfw");
  const auto dataset = vlrface::load_eval_dataset(lfw);
  TempFolder tmp;
  const std::vector<std::string> files = {"images/Aaron_Peirsol/1.jpg", "images/Abdullah/2.jpg",
                                          "images/Adam_Sandler/3.jpg", "images/Ai_Sugiyama/1.jpg"};
  std::string args;
  std::vector<double> truth;
  int k = 0;
  for (const std::string& f : files) {
    for (int px : {16, 24, 40}) {
      const auto lm = dataset.landmarks.at(f);
      const auto frame = vlrface::evaluation::make_native_frame(
          vlrface::load_image(lfw / f), vlrface::native_size(lm), px);
      const fs::path out = tmp.path() / (std::to_string(k++) + ".png");
      ASSERT_TRUE(cv::imwrite(out.string(), frame.frame));
      args += " " + out.string();
      truth.push_back(px);
    }
  }
  const std::string cmd = std::string(VLRFACE_CLI) + " --models " + vlrtest::model_dir().string() +
                          " --gallery " + (tmp.path() / "g.vlrg").string() +
                          " enroll x " + (lfw / files[0]).string() + " >/dev/null 2>&1 && " +
                          VLRFACE_CLI + " --models " + vlrtest::model_dir().string() +
                          " --gallery " + (tmp.path() / "g.vlrg").string() + " identify --json" +
                          args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 65536> buf{};
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  ASSERT_EQ(pclose(p), 0) << out;
  const auto js = nlohmann::json::parse(out);
  ASSERT_EQ(js.size(), truth.size());
  // Landmarks of a face 16 px wide are a pixel or two off, so single faces scatter: the
  // typical (median) error must be within 15 %, and none beyond 25 %.
  std::vector<double> errors;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    ASSERT_EQ(js[i]["faces"].size(), 1u) << js[i].dump();
    const auto& f = js[i]["faces"][0];
    const double got = f["native_px"].get<double>();
    errors.push_back(std::abs(got / truth[i] - 1));
    std::cout << "[ native_px ] placed " << truth[i] << ", reported " << got << ", recovery "
              << f["recovery"] << "\n";
    EXPECT_NEAR(got, truth[i], 0.25 * truth[i]) << js[i].dump();
    // Small faces were recovered from their own size; the 40 px ones are at the cut-off.
    if (truth[i] <= 24) {
      EXPECT_NE(f["recovery"].get<std::string>(), "base") << js[i].dump();
      EXPECT_EQ(f["working_px"].get<double>(), std::round(got)) << js[i].dump();
    }
  }
  std::nth_element(errors.begin(), errors.begin() + errors.size() / 2, errors.end());
  EXPECT_LT(errors[errors.size() / 2], 0.15);
}

// Landmark refinement (DetectorOptions::refine_below_px): ORL faces (validation data) put 16 px
// wide into a 320x240 frame and found by YuNet on the frame enlarged 2x, then detected again in a
// crop enlarged so the face is refine_face_px wide. What it gains is measured as recognition on
// the validation set (docs/EVALUATION.md, "What landmark error costs"); here the mechanics: the
// refined points are mapped back right (as near the dataset's as the first ones, where a wrong
// offset or scale would be a face away), sizes stay measurable, and a large face is left alone.
TEST(NativeFaces, RefinementMapsSmallFacesBackAndLeavesLargeOnesAlone) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_DATASET(orl, "orl");
  const auto dataset = vlrface::load_eval_dataset(orl);
  vlrface::DetectorOptions plain;
  plain.upsample = 2;
  plain.refine_below_px = 0;
  vlrface::DetectorOptions refined = plain;
  refined.refine_below_px = vlrface::DetectorOptions{}.refine_below_px;
  refined.refine_face_px = vlrface::DetectorOptions{}.refine_face_px;
  ASSERT_GT(refined.refine_below_px, 24) << "refinement is on by default for small faces";
  vlrface::YuNetDetector a(store.get("yunet"), plain), b(store.get("yunet"), refined);
  vlrface::evaluation::NativeFrameOptions canvas;
  canvas.canvas = {320, 240};
  for (int px : {16, 64}) {
    double err_plain = 0, err_refined = 0, moved = 0;
    std::vector<double> size_error;
    int n = 0, k = 0;
    for (const auto& [file, lm] : dataset.landmarks) {
      if (k++ % 2) continue;  // 200 of ORL's 400 images (at 16 px YuNet finds ~55 % of them)
      const auto f = vlrface::evaluation::make_native_frame(vlrface::load_image(orl / file),
                                                            vlrface::native_size(lm), px, canvas);
      vlrface::Landmarks truth;
      cv::Point2f centre(0, 0);
      for (std::size_t i = 0; i < 5; ++i) truth[i] = f.map(lm[i]), centre += truth[i] * 0.2f;
      const std::vector<vlrface::Face> da = a.detect(f.frame), db = b.detect(f.frame);
      const auto* fa = vlrface::nearest_face(da, centre, 0.5 * px);
      const auto* fb = vlrface::nearest_face(db, centre, 0.5 * px);
      if (!fa) continue;
      ASSERT_NE(fb, nullptr) << file << ": refinement lost a face";
      const double eyes = vlrface::eye_distance(truth);
      for (std::size_t i = 0; i < 5; ++i) {
        err_plain += cv::norm(fa->landmarks[i] - truth[i]) / (5 * eyes);
        err_refined += cv::norm(fb->landmarks[i] - truth[i]) / (5 * eyes);
        moved += cv::norm(fa->landmarks[i] - fb->landmarks[i]) / (5 * eyes);
      }
      size_error.push_back(std::abs(vlrface::native_size(fb->landmarks) / px - 1));
      ++n;
    }
    ASSERT_GE(n, 80) << px << " px: too few ORL faces found to compare";
    std::sort(size_error.begin(), size_error.end());
    std::cout << "[ landmarks at " << px << " px, " << n << " ORL faces ] mean error / eye "
              << "distance: " << err_plain / n << " detected at 2x, " << err_refined / n
              << " refined (moved " << moved / n << "); median size error "
              << 100 * size_error[size_error.size() / 2] << " %\n";
    if (px < refined.refine_below_px) {
      EXPECT_GT(moved / n, 0.01) << "small faces were not refined";
      EXPECT_LT(err_refined, 1.15 * err_plain) << "refined points mapped back wrong";
      EXPECT_LT(size_error[size_error.size() / 2], 0.15);
    } else {
      EXPECT_EQ(moved, 0) << "a face above refine_below_px was refined";
    }
  }
}
