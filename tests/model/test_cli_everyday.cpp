// Everyday CLI use with real models (issue 13): enrolling a folder of people with bad files among
// them, the rule for existing names, identify walking a folder tree with boxes in its output,
// global options after the subcommand, progress lines, and the Haar fallback's warning.
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
  std::string out, err;
};

std::size_t count(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (auto p = s.find(part); p != std::string::npos; p = s.find(part, p + 1)) ++n;
  return n;
}

class EverydayCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    tmp_ = fs::temp_directory_path() / ("vlrface-everyday-" + std::to_string(rd()));
    fs::create_directories(tmp_);
    gallery_ = (tmp_ / "g.vlrg").string();
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // stdout and stderr apart (stderr through a file; it is not a terminal, so progress comes as
  // plain lines).
  CliRun cli(const std::string& args) const {
    CliRun r;
    const fs::path err = tmp_ / "stderr.txt";
    const std::string cmd = std::string(VLRFACE_CLI) + " " + args + " 2>" + err.string();
    FILE* p = popen(cmd.c_str(), "r");
    std::array<char, 65536> buf{};
    while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    std::ifstream in(err);
    r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return r;
  }
  std::string models() const { return "--models " + vlrtest::model_dir().string(); }
  std::map<std::string, int> faces_per_person() const {
    const CliRun r = cli("gallery list --json --gallery " + gallery_);
    std::map<std::string, int> out;
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    if (r.status != 0) return out;
    const nlohmann::json list = nlohmann::json::parse(r.out);  // alive through the loop
    for (const auto& p : list["people"]) {
      out[p["name"].get<std::string>()] = p["faces"].get<int>();
    }
    return out;
  }

  fs::path tmp_;
  std::string gallery_;
};

}  // namespace

TEST_F(EverydayCli, EnrolFoldersOfPeopleSkippingBadFilesThenIdentifyTheTree) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_DATASET(orl, "orl");
  const fs::path people = tmp_ / "people";
  for (const char* id : {"s01", "s02", "s03"}) {
    fs::create_directories(people / id);
    for (const char* n : {"1.jpg", "2.jpg"}) fs::copy_file(orl / "images" / id / n, people / id / n);
  }
  std::ofstream(people / "s02" / "notes.jpg") << "not a picture";  // undecodable
  cv::imwrite((people / "s03" / "wall.png").string(), cv::Mat(200, 200, CV_8UC3, cv::Scalar(90, 90, 90)));
  fs::create_directories(people / "s04");  // no images: nobody to enrol
  std::ofstream(people / "s04" / "readme.txt") << "empty";

  CliRun r = cli(models() + " --gallery " + gallery_ + " enroll --from-folders " + people.string());
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("skipped " + (people / "s02" / "notes.jpg").string() + ": not an image"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("skipped " + (people / "s03" / "wall.png").string() + ": no face found"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find((people / "s04").string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2 of 8 files skipped"), std::string::npos) << r.err;
  // Not a terminal: plain progress lines, ending with the count and the time.
  EXPECT_NE(r.err.find("vlrface: enroll: 8/8 in "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("enrolled 3 of 3 people"), std::string::npos) << r.out;
  const std::map<std::string, int> expected = {{"s01", 2}, {"s02", 2}, {"s03", 2}};
  EXPECT_EQ(faces_per_person(), expected);

  // The same people again: refused as a whole, naming them and --add; nothing changes.
  r = cli(models() + " --gallery " + gallery_ + " enroll --from-folders " + people.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("'s01', 's02', 's03' are already in the gallery"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--add"), std::string::npos) << r.err;
  EXPECT_EQ(faces_per_person(), expected);

  // identify walks the tree; every face has its box in the plain output. Global options follow
  // the subcommand here.
  r = cli("identify " + people.string() + " " + models() + " --gallery " + gallery_);
  EXPECT_EQ(r.status, 1) << "notes.jpg is not an image: " << r.err;
  for (const char* id : {"s01", "s02", "s03"}) {
    const std::string line = (people / id / "2.jpg").string() + ": face at ";
    const auto at = r.out.find(line);
    ASSERT_NE(at, std::string::npos) << line << "\n" << r.out;
    const std::string rest = r.out.substr(at + line.size(), r.out.find('\n', at) - at - line.size());
    // "x,y wxh: name (...)"
    int x = -1, y = -1, w = 0, h = 0;
    char name[16] = {};
    ASSERT_EQ(std::sscanf(rest.c_str(), "%d,%d %dx%d: %15s", &x, &y, &w, &h, name), 5) << rest;
    EXPECT_GT(w, 20) << rest;
    EXPECT_GT(h, 20) << rest;
    EXPECT_EQ(std::string(name), id) << rest;
  }
  EXPECT_NE(r.out.find((people / "s03" / "wall.png").string() + ": no face"), std::string::npos);
  EXPECT_NE(r.err.find("notes.jpg"), std::string::npos) << r.err;
}

TEST_F(EverydayCli, ExistingNameNeedsAddAndQuietAndVerboseDoWhatTheySay) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  const std::string common = models() + " --gallery " + gallery_;
  CliRun r = cli(common + " enroll s01 " + (orl / "images/s01/1.jpg").string() + " -q");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "") << "--quiet: no progress";
  // Someone else under the same name: refused, as the API's 409.
  r = cli(common + " enroll s01 " + (orl / "images/s02/1.jpg").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("'s01' is already in the gallery: to add these faces to that person, use --add"),
            std::string::npos) << r.err;
  EXPECT_EQ(faces_per_person().at("s01"), 1);
  // On purpose, with --add (after the subcommand's arguments, with -v for each file's outcome).
  r = cli(common + " enroll s01 " + (orl / "images/s01/2.jpg").string() + " " +
          (orl / "images/s01/3.jpg").string() + " --add -v");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find((orl / "images/s01/3.jpg").string() + ": face "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("vlrface: enroll: 2/2 in "), std::string::npos) << r.err;
  EXPECT_EQ(faces_per_person().at("s01"), 3);
  // One person whose every file fails: nothing enrolled, status 1 (not 3).
  std::ofstream(tmp_ / "bad.jpg") << "junk";
  r = cli(common + " enroll s09 " + (tmp_ / "bad.jpg").string() + " " + (tmp_ / "absent.jpg").string());
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("absent.jpg"), std::string::npos) << r.err;
  EXPECT_EQ(faces_per_person().count("s09"), 0u);
}

TEST_F(EverydayCli, HaarFallbackWarnsOnceNamingTheMissingManifest) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  // The prepared models without YuNet's manifest and file.
  const fs::path copy = tmp_ / "models";
  fs::create_directories(copy);
  const fs::path yunet_file = store.has("yunet") ? store.manifest("yunet").path.filename() : fs::path();
  for (const auto& e : fs::directory_iterator(store.dir())) {
    const std::string n = e.path().filename().string();
    if (!e.is_regular_file() || n == "yunet.json" || e.path().filename() == yunet_file) continue;
    fs::create_symlink(e.path(), copy / n);
  }
  const std::string img = (orl / "images/s01/1.jpg").string();
  CliRun r = cli("--models " + copy.string() + " --gallery " + gallery_ + " enroll s01 " + img + " " +
              (orl / "images/s01/2.jpg").string());
  EXPECT_EQ(count(r.err, "Haar"), 1u) << r.err;
  EXPECT_NE(r.err.find((copy / "yunet.json").string() + " is missing"), std::string::npos) << r.err;
  r = cli("--models " + copy.string() + " verify " + img + " " + img);
  EXPECT_EQ(count(r.err, "Haar cascade fallback"), 1u) << r.err;
  // serve says it at start too (here it then stops: the camera file does not exist).
  r = cli("--models " + copy.string() + " --gallery " + gallery_ + " serve --port 0 --camera " +
          (tmp_ / "absent.avi").string());
  EXPECT_NE(r.status, 0) << r.err;
  EXPECT_EQ(count(r.err, "Haar cascade fallback"), 1u) << r.err;
  // With YuNet there: no warning.
  r = cli(models() + " verify " + img + " " + img);
  EXPECT_EQ(r.err.find("Haar"), std::string::npos) << r.err;
}

TEST_F(EverydayCli, ReembedShowsProgressAndQuietSilencesIt) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");
  const std::string common = models() + " --gallery " + gallery_;
  CliRun r = cli(common + " enroll s01 " + (orl / "images/s01/1.jpg").string() + " " +
                 (orl / "images/s01/2.jpg").string() + " -q");
  ASSERT_EQ(r.status, 0) << r.err;
  r = cli(common + " gallery reembed");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("vlrface: reembed: 2/2 in "), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("re-embedded 1 people"), std::string::npos) << r.out;
  r = cli(common + " gallery reembed -q");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "") << "--quiet: no progress";
}
