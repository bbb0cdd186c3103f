// `vlrface eval` end to end on ORL at full resolution: the protocol files, alignment from
// landmarks.csv, the embedder and the JSON report together. ORL is easy (40 people, studio
// conditions), so a working pipeline is near perfect; the bounds catch a broken stage.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "model_env.hpp"

namespace fs = std::filesystem;

namespace {

int run(const std::string& args, std::string& output) {
  const std::string cmd = std::string(VLRFACE_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf{};
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) output.append(buf.data(), n);
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

TEST(EvalOrl, FullResolutionVerificationAndRank1) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_DATASET(orl, "orl");

  std::random_device rd;
  const fs::path tmp = fs::temp_directory_path() / ("vlrface-eval-orl-" + std::to_string(rd()));
  fs::create_directories(tmp);
  const fs::path report = tmp / "orl.json";
  std::string out;
  const int status = run("--models " + vlrtest::model_dir().string() + " eval --dataset " +
                             orl.string() + " --res 112 --jobs 2 --json " + report.string(),
                         out);
  ASSERT_EQ(status, 0) << out;
  std::ifstream in(report);
  ASSERT_TRUE(in) << "no JSON report; output:\n" << out;
  const nlohmann::json j = nlohmann::json::parse(in);
  fs::remove_all(tmp);

  ASSERT_EQ(j["results"].size(), 1u);
  const auto& r = j["results"][0];
  EXPECT_EQ(r["resolution"], 112);
  EXPECT_EQ(j["protocol"]["folds"], 10);
  EXPECT_EQ(j["counts"]["pairs"], 3600);
  EXPECT_EQ(j["alignment"]["no_face"].size(), 0u) << "ORL's landmarks.csv covers every image";
  EXPECT_EQ(r["verification"]["folds"].size(), 10u);
  EXPECT_GE(r["verification"]["accuracy"].get<double>(), 0.97) << out;
  EXPECT_EQ(r["identification"]["probes"], 280);
  EXPECT_GE(r["identification"]["rank1"].get<double>(), 0.99) << out;
}
