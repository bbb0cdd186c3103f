// `vlrface bench --report`: one pasteable block from the bench results.
#include "bench_report.hpp"

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "vlrface/error.hpp"

using json = nlohmann::json;

namespace vlrface::cli {
namespace {

const json& field(const json& j, const char* key, const char* where) {
  if (!j.is_object() || !j.contains(key)) {
    throw Error("bench", std::string("report: '") + key + "' missing in " + where);
  }
  return j.at(key);
}

std::string text(const json& j, const char* key, const char* where) {
  const json& v = field(j, key, where);
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// The median of the first stage row matching all given fields, or negative when absent.
double median_of(const json& stages, const std::string& stage, const std::string& variant = "",
                 int res = 0, int people = 0) {
  for (const auto& s : stages) {
    if (s.value("stage", "") != stage || !s.value("available", false)) continue;
    if (!variant.empty() && s.value("variant", "") != variant) continue;
    if (res && s.value("res", 0) != res) continue;
    if (people && s.value("people", 0) != people) continue;
    return field(s, "median_ms", "a stage").get<double>();
  }
  return -1;
}

std::string ms(double v) {
  if (v < 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 ? "%.2f" : "%.1f", v);
  return buf;
}

std::string mib(std::int64_t kib) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", kib / 1024.0);
  return buf;
}

}  // namespace

std::string bench_report(const json& results, const std::string& command_line) {
  const json& machine = field(results, "machine", "the results");
  const json& config = field(results, "config", "the results");
  const json& runs = field(results, "runs", "the results");
  const json& memory = field(results, "memory", "the results");
  const auto resolutions = field(config, "resolutions", "config").get<std::vector<int>>();
  if (resolutions.empty()) throw Error("bench", "report: no resolution was timed");
  const int res = resolutions.front();
  const int path_people = field(config, "path_gallery_size", "config").get<int>();

  std::ostringstream o;
  o << "```text\n";
  o << "vlrface bench --report (paste this block into an issue, as it is)\n";
  o << "machine:  " << text(machine, "machine_model", "machine") << "\n";
  o << "cpu:      " << text(machine, "cpu_model", "machine") << ", "
    << text(machine, "cores", "machine") << " cores, " << text(machine, "arch", "machine") << ", "
    << text(machine, "memory_total_mib", "machine") << " MiB RAM\n";
  o << "os:       " << text(machine, "os", "machine") << "; " << text(machine, "kernel", "machine")
    << "\n";
  o << "build:    vlrface " << text(machine, "vlrface_version", "machine") << " ("
    << text(machine, "build", "machine") << ", " << text(machine, "compiler", "machine")
    << "), OpenCV " << text(machine, "opencv_version", "machine") << " ("
    << text(machine, "opencv_parallel_framework", "machine") << ")\n";
  o << "models:   " << text(config, "embedder", "config") << ", detector "
    << text(config, "detector_model", "config") << "\n";
  o << "input:    " << text(config, "frame", "config") << "; " << text(config, "landmarks", "config")
    << "\n";
  o << "timing:   median ms of " << text(config, "repeat", "config") << " runs after "
    << text(config, "warmup", "config") << " warm-up; load average "
    << text(config, "load_average_start", "config") << " at start, "
    << text(config, "load_average_end", "config") << " at end; " << text(machine, "date", "machine")
    << "\n";
  o << "command:  " << command_line << "\n\n";

  const std::string r = std::to_string(res) + "px";
  char line[256];
  std::snprintf(line, sizeof line, "%-7s %8s %7s %9s %9s %7s %9s %10s %7s\n", "threads", "detect",
                "align", ("bic " + r).c_str(), ("dsr " + r).c_str(), "embed",
                ("match " + std::to_string(path_people)).c_str(), ("face " + r).c_str(), "fps");
  o << line;
  for (const auto& run : runs) {
    const json& stages = field(run, "stages", "a run");
    const double detect = median_of(stages, "detect");
    const double face = median_of(stages, "per_face", "", res);
    const double fps = detect > 0 && face > 0 ? 1000.0 / (detect + face) : -1;
    char fps_text[32] = "-";
    if (fps > 0) std::snprintf(fps_text, sizeof fps_text, "%.1f", fps);
    std::snprintf(line, sizeof line, "%-7s %8s %7s %9s %9s %7s %9s %10s %7s\n",
                  text(run, "threads", "a run").c_str(), ms(detect).c_str(),
                  ms(median_of(stages, "align")).c_str(),
                  ms(median_of(stages, "upscale", "bicubic", res)).c_str(),
                  ms(median_of(stages, "upscale", "dsr", res)).c_str(),
                  ms(median_of(stages, "embed")).c_str(),
                  ms(median_of(stages, "match", "", 0, path_people)).c_str(), ms(face).c_str(),
                  fps_text);
    o << line;
  }
  o << "\nface " << r << " = align + shrink to " << res << " px + bicubic + embed + match against "
    << path_people << " people; fps = 1000 / (detect + face " << r
    << "), one face per frame, stages one after another (the live server overlaps them)\n";
  std::int64_t models_kib = -1;
  for (const auto& m : memory) {
    if (m.value("phase", "") == "models loaded") models_kib = m.value("peak_rss_kib", -1);
  }
  o << "rss:      peak " << mib(field(results, "peak_rss_kib", "the results").get<std::int64_t>());
  if (models_kib >= 0) o << " (after loading the models: " << mib(models_kib) << ")";
  o << "\n```\n";
  return o.str();
}

}  // namespace vlrface::cli
