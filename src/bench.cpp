#include "vlrface/bench.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

namespace vlrface {
namespace {

constexpr const char* kStatusFile = "/proc/self/status";

std::string read_status() {
  std::ifstream in(kStatusFile);
  if (!in) throw Error("bench", std::string(kStatusFile) + ": cannot be read (not Linux?)");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::int64_t status_kib(const std::string& key) {
  const auto v = parse_status_kib(read_status(), key);
  if (!v) throw Error("bench", std::string(kStatusFile) + ": no '" + key + ":' line");
  return *v;
}

}  // namespace

double percentile_sorted(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) throw Error("bench", "percentile of no samples");
  if (!(p >= 0 && p <= 100)) throw Error("bench", "percentile must be 0..100");
  const double pos = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

SampleStats summarise(std::vector<double> samples) {
  if (samples.empty()) throw Error("bench", "no samples to summarise");
  for (double v : samples) {
    if (!std::isfinite(v)) throw Error("bench", "a sample is not a finite number");
  }
  std::sort(samples.begin(), samples.end());
  SampleStats s;
  s.count = samples.size();
  s.median = percentile_sorted(samples, 50);
  s.p10 = percentile_sorted(samples, 10);
  s.p90 = percentile_sorted(samples, 90);
  s.min = samples.front();
  s.max = samples.back();
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) /
           static_cast<double>(samples.size());
  return s;
}

std::vector<std::vector<double>> time_interleaved_ms(const std::vector<std::function<void()>>& fns,
                                                     int warmup, int repeat) {
  if (fns.empty()) throw Error("bench", "nothing to time");
  if (warmup < 0) throw Error("bench", "warm-up count must be >= 0, not " + std::to_string(warmup));
  if (repeat < 1) throw Error("bench", "repeat count must be >= 1, not " + std::to_string(repeat));
  std::vector<std::vector<double>> samples(fns.size());
  for (auto& s : samples) s.reserve(static_cast<std::size_t>(repeat));
  for (int round = 0; round < warmup + repeat; ++round) {
    for (std::size_t k = 0; k < fns.size(); ++k) {
      const std::size_t i = round % 2 == 0 ? k : fns.size() - 1 - k;
      const auto t0 = std::chrono::steady_clock::now();
      fns[i]();
      const auto t1 = std::chrono::steady_clock::now();
      if (round >= warmup) {
        samples[i].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    }
  }
  return samples;
}

std::optional<std::int64_t> parse_status_kib(const std::string& status_text,
                                             const std::string& key) {
  std::istringstream in(status_text);
  const std::string prefix = key + ":";
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, prefix.size(), prefix) != 0) continue;
    std::istringstream fields(line.substr(prefix.size()));
    std::int64_t value = 0;
    std::string unit;
    if (!(fields >> value)) return std::nullopt;
    fields >> unit;
    // The kernel writes "kB" but means KiB; any other unit would be a format we do not know.
    if (!unit.empty() && unit != "kB") return std::nullopt;
    return value;
  }
  return std::nullopt;
}

std::int64_t peak_rss_kib() { return status_kib("VmHWM"); }
std::int64_t current_rss_kib() { return status_kib("VmRSS"); }

ProcessMemory process_memory() {
  const std::string text = read_status();
  ProcessMemory m;
  const auto peak = parse_status_kib(text, "VmHWM");
  const auto current = parse_status_kib(text, "VmRSS");
  if (!peak || !current) {
    throw Error("bench", std::string(kStatusFile) + ": no 'VmHWM:' or 'VmRSS:' line");
  }
  m.peak_kib = *peak;
  m.current_kib = *current;
  m.anon_kib = parse_status_kib(text, "RssAnon").value_or(-1);
  m.file_kib = parse_status_kib(text, "RssFile").value_or(-1);
  return m;
}

int process_thread_count() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/task", ec);
  if (ec) throw Error("bench", "/proc/self/task: cannot be listed (" + ec.message() + ")");
  int n = 0;
  for (const auto& entry : it) {
    (void)entry;
    ++n;
  }
  return n;
}

}  // namespace vlrface
