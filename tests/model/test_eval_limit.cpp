// eval reads only what it needs: --limit-folds embeds only the selected folds' images, and the
// simulated rows keep no aligned crops (they align again from the image and the face found).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <sys/wait.h>
#include <utility>

#include "model_env.hpp"
#include "vlrface/dataset.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/pipeline.hpp"

namespace fs = std::filesystem;

namespace {

// Runs a shell command; its exit status and what it printed (stdout and, with 2>&1, stderr).
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, "popen failed: " + cmd};
  std::array<char, 4096> buf{};
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

}  // namespace

TEST(EvalLimit, LimitFoldsReadsOnlyTheSelectedFoldsImages) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  const vlrface::EvalDataset d = vlrface::load_eval_dataset(orl);
  ASSERT_TRUE(d.has_identification()) << "ORL has gallery.txt + probe.txt as well as pairs";
  std::set<std::string> used;
  std::size_t pairs = 0;
  for (const auto& p : d.pairs.pairs) {
    if (p.fold >= 2) continue;
    used.insert(p.first), used.insert(p.second), ++pairs;
  }
  std::random_device rd;
  const fs::path tmp = fs::temp_directory_path() / ("vlrface-eval-limit-" + std::to_string(rd()));
  fs::create_directories(tmp);
  const fs::path report = tmp / "r.json";
  const std::string cmd = std::string(VLRFACE_CLI) + " --models " + vlrtest::model_dir().string() +
                          " eval --dataset " + orl.string() + " --limit-folds 2 --res 112,16 " +
                          "--jobs 2 -q --json " + report.string() + " 2>&1";
  const auto [status, out] = run(cmd);
  ASSERT_EQ(status, 0) << out;
  std::ifstream in(report);
  const nlohmann::json j = nlohmann::json::parse(in);
  fs::remove_all(tmp);

  EXPECT_EQ(j["alignment"]["images"].get<std::size_t>(), used.size())
      << "only the images of folds 1-2, not all " << d.landmarks.size();
  EXPECT_LT(used.size(), d.landmarks.size());
  EXPECT_EQ(j["counts"]["pairs"].get<std::size_t>(), pairs);
  EXPECT_EQ(j["counts"]["probes"], 0) << "identification is skipped with --limit-folds";
  EXPECT_NE(out.find("ident.   skipped: --limit-folds"), std::string::npos) << out;
  EXPECT_EQ(out.find("eval: full resolution"), std::string::npos) << "-q: no progress\n" << out;
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_FALSE(j["results"][0].contains("identification"));
  // The simulated row still works from the re-read images: ORL at 16 px stays well above chance.
  EXPECT_GE(j["results"][1]["verification_hrlr"]["accuracy"].get<double>(), 0.8) << out;
}

// The simulated rows align again from the image and the face found; that must be the very
// computation that shrinking the full pass's aligned crop was.
TEST(EvalLimit, SimulatedFromTheImageEqualsFromTheAlignedCrop) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  const vlrface::EvalDataset d = vlrface::load_eval_dataset(orl);
  vlrface::PipelineConfig pc;
  pc.resolution = vlrface::kResolutionFull;
  pc.upscaler = "bicubic";
  pc.adapter = false;
  vlrface::Pipeline p(store, pc);
  int compared = 0;
  for (const auto& [file, lm] : d.landmarks) {
    if (compared == 5) break;
    const cv::Mat bgr = vlrface::load_image(orl / file);
    vlrface::Face face;
    face.landmarks = lm;
    p.set_resolution(vlrface::kResolutionFull, "bicubic", false);
    const auto full = p.process(bgr, {face});
    ASSERT_EQ(full.front().status, vlrface::FaceStatus::kOk) << file;
    p.set_resolution(16, "bicubic", false);
    const vlrface::FaceResult from_crop = p.process_aligned(full.front().aligned);
    const auto from_image = p.process(bgr, {face});
    ASSERT_EQ(from_image.front().status, vlrface::FaceStatus::kOk) << file;
    EXPECT_EQ(from_image.front().embedding, from_crop.embedding) << file;
    EXPECT_EQ(from_image.front().threshold, from_crop.threshold) << file;
    ++compared;
  }
  EXPECT_EQ(compared, 5);
}

// A dataset with a gallery and probes but no pairs: identification alone, judged in the text
// report at the product's thresholds too (open-set: FPIR and TPIR), not only in the JSON.
TEST(EvalLimit, IdentificationOnlyDatasetsReportOpenSetAtTheProductsThresholds) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  std::random_device rd;
  const fs::path tmp = fs::temp_directory_path() / ("vlrface-eval-ident-" + std::to_string(rd()));
  fs::create_directories(tmp);
  fs::create_directory_symlink(orl / "images", tmp / "images");
  fs::copy_file(orl / "landmarks.csv", tmp / "landmarks.csv");
  // The first 8 people of ORL's own lists.
  for (const std::string list : {"gallery.txt", "probe.txt"}) {
    std::ifstream in(orl / list);
    std::ofstream out(tmp / list);
    std::set<std::string> people;
    for (std::string line; std::getline(in, line);) {
      const std::string who = line.substr(line.find(' ') + 1);
      if (people.size() == 8 && !people.count(who)) continue;
      people.insert(who);
      out << line << "\n";
    }
  }
  const std::string cmd = std::string(VLRFACE_CLI) + " --models " + vlrtest::model_dir().string() +
                          " eval --dataset " + tmp.string() + " --res 112,16 -q --json " +
                          (tmp / "r.json").string() + " 2>&1";
  const auto [status, out] = run(cmd);
  ASSERT_EQ(status, 0) << out;
  std::ifstream in(tmp / "r.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  fs::remove_all(tmp);
  EXPECT_NE(out.find("112 px: identification: FPIR "), std::string::npos) << out;
  EXPECT_NE(out.find("16 px sim bicubic: identification: FPIR "), std::string::npos) << out;
  ASSERT_EQ(j["results"].size(), 2u);
  for (const auto& r : j["results"]) {
    const auto& at = r["identification"]["at_product_thresholds"];
    EXPECT_GE(at["far"].get<double>(), 0.0);
    EXPECT_LE(at["far"].get<double>(), 1.0);
    EXPECT_GT(at["tar"].get<double>(), 0.5) << "ORL's 8 people are named at full size and 16 px";
    EXPECT_TRUE(r["identification"].contains("open_set"));
  }
}
