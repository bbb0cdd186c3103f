// `vlrface bench`'s table and JSON.
#include "bench_results.hpp"

#include <cstdio>
#include <sstream>

#include "vlrface/align.hpp"

using json = nlohmann::json;

namespace vlrface::cli {
namespace {

json stats_json(const SampleStats& s) {
  return {{"n", s.count}, {"median_ms", s.median}, {"p10_ms", s.p10}, {"p90_ms", s.p90},
          {"min_ms", s.min}, {"max_ms", s.max},    {"mean_ms", s.mean}};
}

json stage_json(const StageResult& r) {
  json j = {{"stage", r.stage}, {"available", r.available}};
  if (!r.variant.empty()) j["variant"] = r.variant;
  if (r.res) j["res"] = r.res;
  if (r.people) j["people"] = r.people;
  if (r.available) {
    j.update(stats_json(r.stats));
  } else {
    j["note"] = r.note;
  }
  return j;
}

std::string detail(const StageResult& r) {
  std::ostringstream s;
  if (!r.variant.empty()) s << r.variant;
  if (r.stage == "detect" || r.stage == "far_face") s << " " << kBenchFrameWidth << "x" << kBenchFrameHeight;
  if (r.stage == "embed") s << (s.tellp() > 0 ? " " : "") << kAlignedSize << "x" << kAlignedSize;
  if (r.res) s << (s.tellp() > 0 ? " " : "") << r.res << " px";
  if (r.people) s << (s.tellp() > 0 ? ", " : "") << r.people << " people";
  return s.str();
}

}  // namespace

MemorySnapshot snapshot(const std::string& phase) { return {phase, process_memory()}; }

void print_table(const json& machine, const json& config, const json& load,
                 const std::vector<ThreadRun>& runs, const std::vector<MemorySnapshot>& memory) {
  std::printf("vlrface bench — %s, %s cores, OpenCV %s (%s), %s, %s\n",
              machine["cpu_model"].get<std::string>().c_str(),
              machine["cores"].dump().c_str(),
              machine["opencv_version"].get<std::string>().c_str(),
              machine["opencv_parallel_framework"].get<std::string>().c_str(),
              machine["compiler"].get<std::string>().c_str(),
              machine["date"].get<std::string>().c_str());
  std::printf("frame: %s; landmarks: %s; repeat %d after %d warm-up; load average %s\n\n",
              config["frame"].get<std::string>().c_str(),
              config["landmarks"].get<std::string>().c_str(), config["repeat"].get<int>(),
              config["warmup"].get<int>(), config["load_average_start"].get<std::string>().c_str());
  for (const auto& run : runs) {
    std::printf("threads %d (cv::getNumThreads %d; process threads after embed: %d)\n",
                run.requested, run.opencv_threads, run.process_threads_after_embed);
    std::printf("  %-9s %-26s %10s %10s %10s %10s %10s\n", "stage", "input", "median ms",
                "p10 ms", "p90 ms", "min ms", "max ms");
    for (const auto& r : run.stages) {
      if (!r.available) {
        // The whole reason (with the set-up hint) is in the JSON; one line is enough here.
        const std::string why = r.note.size() > 60 ? r.note.substr(0, 57) + "..." : r.note;
        std::printf("  %-9s %-26s unavailable (%s)\n", r.stage.c_str(), detail(r).c_str(),
                    why.c_str());
        continue;
      }
      const auto& s = r.stats;
      std::printf("  %-9s %-26s %10.3f %10.3f %10.3f %10.3f %10.3f\n", r.stage.c_str(),
                  detail(r).c_str(), s.median, s.p10, s.p90, s.min, s.max);
    }
    std::printf("\n");
  }
  std::printf("per_face = align + degrade + bicubic upscale + embed + match, one face, one call "
              "each.\n\nmodel load (ms):");
  for (const auto& [k, v] : load.items()) {
    if (v.is_number()) std::printf(" %s %.1f;", k.c_str(), v.get<double>());
  }
  std::printf("\n\nmemory (MiB)                 peak RSS  current RSS  (anonymous  file-backed)\n");
  for (const auto& [phase, m] : memory) {
    std::printf("  %-26s %9.1f %12.1f %12.1f %13.1f\n", phase.c_str(), m.peak_kib / 1024.0,
                m.current_kib / 1024.0, m.anon_kib / 1024.0, m.file_kib / 1024.0);
  }
}

json results_json(const json& machine, const json& config, const json& load,
                  const std::vector<ThreadRun>& runs, const std::vector<MemorySnapshot>& memory) {
  json j = {{"tool", "vlrface bench"}, {"machine", machine}, {"config", config}, {"load_ms", load}};
  j["runs"] = json::array();
  for (const auto& run : runs) {
    json jr = {{"threads", run.requested},
               {"opencv_threads", run.opencv_threads},
               {"process_threads_after_embed", run.process_threads_after_embed},
               {"stages", json::array()}};
    for (const auto& r : run.stages) jr["stages"].push_back(stage_json(r));
    j["runs"].push_back(std::move(jr));
  }
  j["memory"] = json::array();
  for (const auto& [phase, m] : memory) {
    j["memory"].push_back({{"phase", phase},
                           {"peak_rss_kib", m.peak_kib},
                           {"current_rss_kib", m.current_kib},
                           {"anon_rss_kib", m.anon_kib},
                           {"file_rss_kib", m.file_kib}});
  }
  j["peak_rss_kib"] = memory.back().m.peak_kib;
  j["current_rss_kib"] = memory.back().m.current_kib;
  return j;
}

}  // namespace vlrface::cli
