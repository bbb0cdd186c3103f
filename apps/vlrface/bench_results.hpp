// `vlrface bench`'s results: what one timed pass holds, its table and its JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vlrface/bench.hpp"

namespace vlrface::cli {

// A VGA frame: the size a small camera delivers, and YuNet's cost grows with the pixel count.
constexpr int kBenchFrameWidth = 640;
constexpr int kBenchFrameHeight = 480;

struct StageResult {
  std::string stage;    // detect, far_face (detect), align, degrade, upscale, embed, match, per_face
  std::string variant;  // detector or upscaler name; empty otherwise
  int res = 0;          // low resolution, 0 where it does not apply
  int people = 0;       // gallery size, 0 where it does not apply
  bool available = true;
  std::string note;     // why unavailable
  SampleStats stats;
};

// One pass over every stage at one inference thread count.
struct ThreadRun {
  int requested = 0;
  int opencv_threads = 0;
  int process_threads_after_embed = 0;
  std::vector<StageResult> stages;
};

struct MemorySnapshot {
  std::string phase;
  ProcessMemory m;
};

// The process's memory now, labelled with the phase of the run it follows.
MemorySnapshot snapshot(const std::string& phase);

// The human-readable table on stdout: machine, configuration, per-stage statistics per thread
// count, model load times and memory per phase. `config` needs "frame", "landmarks", "repeat",
// "warmup" and "load_average_start"; `machine` is machine_info().
void print_table(const nlohmann::json& machine, const nlohmann::json& config,
                 const nlohmann::json& load, const std::vector<ThreadRun>& runs,
                 const std::vector<MemorySnapshot>& memory);

// The JSON `--json` writes and bench_report() reads: "tool", "machine", "config", "load_ms",
// "runs" (per thread count, "stages"), "memory" per phase, "peak_rss_kib", "current_rss_kib"
// (the last snapshot's; `memory` must not be empty).
nlohmann::json results_json(const nlohmann::json& machine, const nlohmann::json& config,
                            const nlohmann::json& load, const std::vector<ThreadRun>& runs,
                            const std::vector<MemorySnapshot>& memory);

}  // namespace vlrface::cli
