// `vlrface bench --report` end to end on the real models: one pasteable block with this machine,
// its OS, a row of per-stage medians per thread count, the fps and the peak RSS.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <regex>
#include <string>

#include "model_env.hpp"

namespace {

int run(const std::string& args, std::string& output) {
  const std::string cmd = std::string(VLRFACE_CLI) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf{};
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) output.append(buf.data(), n);
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

TEST(BenchReportCli, PrintsOneBlockWithStagesFpsAndRss) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_MODEL(store, "dsr16");
  std::string out;
  const std::string args = "--models " + vlrtest::model_dir().string() +
                           " bench --report --threads 1 --res 16 --repeat 3 --warmup 1 "
                           "--gallery-sizes 1000";
  ASSERT_EQ(run(args, out), 0) << out;
  // Only the block on stdout (progress goes to stderr), fenced once.
  EXPECT_EQ(out.rfind("```text\n", 0), 0u) << out;
  EXPECT_EQ(out.find("```", 3), out.size() - 4) << out;
  EXPECT_NE(out.find("\nmachine:  "), std::string::npos) << out;
  EXPECT_NE(out.find("\nos:       "), std::string::npos) << out;
  EXPECT_EQ(out.find("os:       unknown"), std::string::npos) << "/etc/os-release not read";
  EXPECT_NE(out.find("command:  vlrface bench --report --threads 1 --res 16 --repeat 3 "
                     "--warmup 1 --gallery-sizes 1000"),
            std::string::npos)
      << out;
  // The row for one thread: every column timed (numbers, no "-"), and a positive fps.
  const std::regex row(R"(\n1 +([0-9.]+) +([0-9.]+) +([0-9.]+) +([0-9.]+) +([0-9.]+) +([0-9.]+))"
                       R"( +([0-9.]+) +([0-9.]+)\n)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, row)) << out;
  const double detect = std::stod(m[1]), face = std::stod(m[7]), fps = std::stod(m[8]);
  EXPECT_GT(detect, 0);
  EXPECT_GT(face, 0);
  EXPECT_NEAR(fps, 1000.0 / (detect + face), 0.06 * fps + 0.1) << out;
  const std::regex rss(R"(\nrss: +peak ([0-9.]+) MiB)");
  ASSERT_TRUE(std::regex_search(out, m, rss)) << out;
  EXPECT_GT(std::stod(m[1]), 5.0);
}
