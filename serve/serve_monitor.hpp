// What the server watches about itself: the process's CPU share and memory (for /api/metrics),
// and the frame source's failures and recoveries (one line each on the terminal).
//
// Usage (housekeeping, every second):
//   cpu.sample();              reporter.report(engine.get());
//   m["cpu_percent"] = cpu.percent();   ProcStatus p = proc_status();
// Thread safety: CpuMeter::percent() from any thread; sample() and SourceReporter from one.
#pragma once

#include <atomic>
#include <string>

#include "live_engine.hpp"

namespace vlrface::serve {

struct ProcStatus {
  double rss_mb = 0, peak_mb = 0;
  int threads = 0;
};
// This process's resident and peak memory and thread count (/proc/self/status).
ProcStatus proc_status();
// User and system CPU time of this process so far.
double cpu_seconds();

class CpuMeter {
 public:
  CpuMeter();
  // The CPU share since the previous sample, in percent of one core.
  void sample();
  double percent() const { return percent_; }

 private:
  double last_cpu_, last_t_;
  std::atomic<double> percent_{0};
};

// A line (spdlog warning) when the frame source fails, ends, changes its error or delivers frames
// again; a failure that came and went between two looks is said too, if only afterwards.
class SourceReporter {
 public:
  void report(const live::LiveEngine* engine);

 private:
  // What was last said, about which engine (a model reload starts a new one).
  const void* engine_ = nullptr;
  int failures_ = 0;
  std::string error_;
  bool down_ = false;
};

}  // namespace vlrface::serve
