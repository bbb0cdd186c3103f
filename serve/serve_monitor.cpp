#include "serve_monitor.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "serve_http.hpp"

namespace vlrface::serve {

ProcStatus proc_status() {
  ProcStatus p;
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> p.rss_mb;
      p.rss_mb /= 1024;
    } else if (key == "VmHWM:") {
      in >> p.peak_mb;
      p.peak_mb /= 1024;
    } else if (key == "Threads:") {
      in >> p.threads;
    }
    in.ignore(1 << 12, '\n');
  }
  return p;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

CpuMeter::CpuMeter() : last_cpu_(cpu_seconds()), last_t_(now_seconds()) {}

void CpuMeter::sample() {
  const double cpu = cpu_seconds(), t = now_seconds();
  percent_ = std::round(1000 * (cpu - last_cpu_) / std::max(1e-3, t - last_t_)) / 10;
  last_cpu_ = cpu;
  last_t_ = t;
}

void SourceReporter::report(const live::LiveEngine* eng) {
  if (!eng) return;
  const auto snap = eng->snapshot();
  if (eng != engine_) {
    engine_ = eng;
    failures_ = 0;
    error_.clear();
    down_ = false;
  }
  const live::Snapshot& s = *snap;
  if (s.source_down_since) {
    if (s.source_failures != failures_ || s.source_error != error_) {
      const bool ended = s.source_state == "ended";
      // The engine's errors mostly begin with the source already.
      const std::string what = s.source_error.rfind(s.source, 0) == 0
                                   ? s.source_error
                                   : s.source + ": " + s.source_error;
      spdlog::warn("serve: the source {} at {}: {}{}", ended ? "ended" : "failed",
                   utc_iso8601(*s.source_down_since), what,
                   ended ? "; /api/health answers 503"
                         : "; retrying, /api/health answers 503 until frames come again");
    }
    down_ = true;
  } else if (down_ || s.source_failures > failures_) {
    spdlog::warn("serve: the source delivers frames again{}: {}",
                 down_ ? "" : " after a short failure", s.source);
    down_ = false;
  }
  failures_ = s.source_failures;
  error_ = s.source_error;
}

}  // namespace vlrface::serve
