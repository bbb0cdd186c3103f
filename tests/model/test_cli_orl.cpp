// End to end through the command line, as a user would: enrol ORL's gallery images, identify
// its probes, and the error paths that need real models.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>

#include "model_env.hpp"

namespace fs = std::filesystem;

namespace {

struct CliRun {
  int status = -1;
  std::string out;
};

CliRun cli(const std::string& args) {
  CliRun r;
  const std::string cmd = std::string(VLRFACE_CLI) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 65536> buf{};
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class OrlCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    tmp_ = fs::temp_directory_path() / ("vlrface-orl-" + std::to_string(rd()));
    fs::create_directories(tmp_);
    common_ = "--models " + vlrtest::model_dir().string() + " --gallery " +
              (tmp_ / "orl.vlrg").string();
  }
  void TearDown() override { fs::remove_all(tmp_); }
  fs::path tmp_;
  std::string common_;
};

std::vector<std::pair<std::string, std::string>> read_list(const fs::path& f) {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(f);
  std::string path, id;
  while (in >> path >> id) out.emplace_back(path, id);
  return out;
}

}  // namespace

TEST_F(OrlCli, EnrolGalleryIdentifyProbesRank1) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_DATASET(orl, "orl");

  std::map<std::string, std::string> files_of;
  for (const auto& [path, id] : read_list(orl / "gallery.txt")) {
    files_of[id] += " " + (orl / path).string();
  }
  for (const auto& [id, files] : files_of) {
    const CliRun r = cli(common_ + " enroll " + id + files);
    ASSERT_EQ(r.status, 0) << id << ": " << r.out;
  }
  const CliRun list = cli(common_ + " gallery list --json");
  ASSERT_EQ(list.status, 0);
  EXPECT_EQ(nlohmann::json::parse(list.out)["people"].size(), files_of.size());

  const auto probes = read_list(orl / "probe.txt");
  std::string args;
  for (const auto& [path, id] : probes) args += " " + (orl / path).string();
  const CliRun r = cli(common_ + " identify --json --top 5" + args);
  ASSERT_EQ(r.status, 0) << r.out.substr(0, 2000);
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), probes.size());
  int correct = 0;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const auto& faces = j[i]["faces"];
    ASSERT_FALSE(faces.empty()) << probes[i].first;
    const auto& top = faces[0]["top"];
    ASSERT_LE(top.size(), 5u);
    if (top[0]["name"] == probes[i].second) ++correct;
  }
  const double rank1 = static_cast<double>(correct) / static_cast<double>(probes.size());
  std::cout << "[ ORL ] rank-1 at full resolution through the CLI: " << rank1 << " (" << correct
            << "/" << probes.size() << ")\n";
  EXPECT_GE(rank1, 0.99);
}

TEST_F(OrlCli, BadInputsAmongGoodOnesAreReportedAndTheRestProcessed) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  ASSERT_EQ(cli(common_ + " enroll s01 " + (orl / "images/s01/1.jpg").string()).status, 0);
  std::ofstream(tmp_ / "notes.jpg") << "not a picture";
  cv::imwrite((tmp_ / "wall.png").string(), cv::Mat(200, 200, CV_8UC3, cv::Scalar(90, 90, 90)));
  const CliRun r = cli(common_ + " identify --json " + (orl / "images/s01/5.jpg").string() + " " +
                    (tmp_ / "notes.jpg").string() + " " + (tmp_ / "wall.png").string() + " " +
                    (tmp_ / "missing.jpg").string());
  EXPECT_EQ(r.status, 1);
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[0]["faces"][0]["name"], "s01");
  EXPECT_NE(j[1]["error"].get<std::string>().find("not an image"), std::string::npos);
  EXPECT_TRUE(j[2]["faces"].empty()) << "no face is a result, not an error";
  EXPECT_NE(j[3]["error"].get<std::string>().find("no such file"), std::string::npos);
}

TEST_F(OrlCli, DamagedModelFileIsNamed) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  const fs::path copy = tmp_ / "models";
  fs::create_directories(copy);
  for (const auto& e : fs::directory_iterator(store.dir())) {
    if (e.is_regular_file()) fs::copy_file(e.path(), copy / e.path().filename());
  }
  const fs::path onnx = copy / store.get("edgeface_xxs").path.filename();
  fs::resize_file(onnx, fs::file_size(onnx) / 2);
  const std::string cmd = std::string(VLRFACE_CLI) + " --models " + copy.string() +
                          " --gallery " + (tmp_ / "g.vlrg").string() + " enroll x " +
                          (orl / "images/s01/1.jpg").string() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int st = pclose(p);
  EXPECT_NE(WEXITSTATUS(st), 0);
  EXPECT_NE(out.find(onnx.filename().string()), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(tmp_ / "g.vlrg"));
}
