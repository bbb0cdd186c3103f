// `vlrface bench --report`: the pasteable block, from bench results made up here.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "bench_report.hpp"
#include "vlrface/error.hpp"

using json = nlohmann::json;

namespace {

json stage(const std::string& name, double median, const std::string& variant = "", int res = 0,
           int people = 0) {
  json s = {{"stage", name}, {"available", true}, {"median_ms", median}};
  if (!variant.empty()) s["variant"] = variant;
  if (res) s["res"] = res;
  if (people) s["people"] = people;
  return s;
}

json results() {
  json machine = {{"machine_model", "Raspberry Pi 5 Model B Rev 1.0"},
                  {"cpu_model", "unknown"},
                  {"cores", 4},
                  {"arch", "aarch64"},
                  {"memory_total_mib", 8048},
                  {"os", "Debian GNU/Linux 12 (bookworm)"},
                  {"kernel", "Linux 6.6.51+rpt-rpi-2712 aarch64"},
                  {"vlrface_version", "0.1.0"},
                  {"build", "release"},
                  {"compiler", "gcc 12.2.0"},
                  {"opencv_version", "4.6.0"},
                  {"opencv_parallel_framework", "pthreads"},
                  {"date", "2026-11-28T15:00:00Z"}};
  json config = {{"resolutions", {16, 24}},
                 {"path_gallery_size", 1000},
                 {"embedder", "edgeface_xxs/46be7cc7"},
                 {"detector_model", "yunet_2023mar"},
                 {"frame", "640x480 synthetic"},
                 {"landmarks", "synthetic"},
                 {"repeat", 50},
                 {"warmup", 5},
                 {"load_average_start", "0.10 0.20 0.30"},
                 {"load_average_end", "0.40 0.50 0.60"}};
  json stages = json::array({stage("detect", 30.0), stage("align", 0.5),
                             stage("upscale", 0.25, "bicubic", 16),
                             stage("upscale", 4.0, "dsr", 16),
                             stage("upscale", 9.0, "bicubic", 24), stage("embed", 15.0),
                             stage("match", 0.75, "", 0, 1000), stage("match", 7.0, "", 0, 10000),
                             stage("per_face", 20.0, "", 16, 1000),
                             stage("per_face", 99.0, "", 24, 1000)});
  json one = {{"threads", 1}, {"stages", stages}};
  json two = {{"threads", 2}, {"stages", json::array({stage("detect", 15.0),
                                                       stage("per_face", 10.0, "", 16, 1000)})}};
  json memory = json::array({{{"phase", "start"}, {"peak_rss_kib", 10240}},
                             {{"phase", "models loaded"}, {"peak_rss_kib", 30720}},
                             {{"phase", "end"}, {"peak_rss_kib", 51200}}});
  return {{"machine", machine}, {"config", config},         {"runs", json::array({one, two})},
          {"memory", memory},   {"peak_rss_kib", 51200}};
}

}  // namespace

TEST(BenchReport, OneFencedBlockWithMachineOsStagesFpsAndRss) {
  const std::string r = vlrface::cli::bench_report(results(), "vlrface bench --report");
  // One block, fenced, so that an issue shows it as it is.
  EXPECT_EQ(r.rfind("```text\n", 0), 0u);
  EXPECT_EQ(r.substr(r.size() - 4), "```\n");
  EXPECT_EQ(r.find("```", 3), r.size() - 4);
  EXPECT_NE(r.find("machine:  Raspberry Pi 5 Model B Rev 1.0\n"), std::string::npos) << r;
  EXPECT_NE(r.find("os:       Debian GNU/Linux 12 (bookworm); Linux 6.6.51"), std::string::npos);
  EXPECT_NE(r.find("4 cores, aarch64, 8048 MiB RAM"), std::string::npos);
  EXPECT_NE(r.find("command:  vlrface bench --report\n"), std::string::npos);
  // Threads 1: detect 30, align 0.5, bicubic 16 px 0.25, dsr 16 px 4, embed 15, match 1000
  // people 0.75 (not the 10,000 row), face 16 px 20 (not 24 px); fps 1000 / (30 + 20) = 20.
  EXPECT_NE(r.find("1           30.0    0.50      0.25      4.00    15.0      0.75       20.0    20.0\n"),
            std::string::npos)
      << r;
  // Threads 2: stages not timed show "-"; fps 1000 / (15 + 10) = 40.
  EXPECT_NE(r.find("2           15.0       -         -         -       -         -       10.0    40.0\n"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("fps = 1000 / (detect + face 16px)"), std::string::npos);
  EXPECT_NE(r.find("rss:      peak 50.0 MiB (after loading the models: 30.0 MiB)"),
            std::string::npos)
      << r;
}

TEST(BenchReport, NoFpsWithoutDetectOrFace) {
  json j = results();
  j["runs"] = json::array({{{"threads", 1}, {"stages", json::array({stage("embed", 15.0)})}}});
  const std::string r = vlrface::cli::bench_report(j, "x");
  EXPECT_NE(r.find("1              -       -         -         -    15.0         -          -       -\n"),
            std::string::npos)
      << r;
}

TEST(BenchReport, MissingFieldIsNamed) {
  json j = results();
  j["machine"].erase("os");
  try {
    (void)vlrface::cli::bench_report(j, "x");
    FAIL() << "no error";
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'os' missing in machine"), std::string::npos) << e.what();
  }
  j = results();
  j.erase("runs");
  EXPECT_THROW((void)vlrface::cli::bench_report(j, "x"), vlrface::Error);
}
