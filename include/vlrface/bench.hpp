// vlrface/bench.hpp — measuring stages in one process: timing samples, their statistics, and
// the process's memory and threads as Linux reports them.
//
// Usage:
//   std::vector<double> ms = vlrface::time_ms([&] { emb.embed(face); }, /*warmup=*/5, /*repeat=*/50);
//   vlrface::SampleStats s = vlrface::summarise(ms);   // s.median, s.p10, s.p90 in ms
//   std::int64_t peak = vlrface::peak_rss_kib();          // VmHWM of /proc/self/status
//   auto ab = vlrface::time_interleaved_ms({run_a, run_b}, 5, 50);  // ab[0]: A's, ab[1]: B's
// Percentiles interpolate linearly between the two nearest order statistics (numpy's default), so
// numbers from the C++ bench and the Python reference are computed the same way.
// Thread safety: free functions; the /proc readers read this process's own state.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "vlrface/error.hpp"

namespace vlrface {

struct SampleStats {
  std::size_t count = 0;
  double median = 0, p10 = 0, p90 = 0, min = 0, max = 0, mean = 0;
};

// The p-th percentile (0..100) of `sorted` (ascending, non-empty), linear interpolation.
double percentile_sorted(const std::vector<double>& sorted, double p);

// Throws Error("bench", ...) for no samples or a non-finite one.
SampleStats summarise(std::vector<double> samples);

// Runs `fn` `warmup` times untimed, then `repeat` times, each timed alone with steady_clock;
// returns the `repeat` durations in milliseconds. Timing each run alone (not the total / N) is
// what gives percentiles, and costs about 50 ns per run, negligible at the microsecond scale of
// the cheapest stage.
template <class Fn>
std::vector<double> time_ms(Fn&& fn, int warmup, int repeat) {
  if (warmup < 0) throw Error("bench", "warm-up count must be >= 0, not " + std::to_string(warmup));
  if (repeat < 1) throw Error("bench", "repeat count must be >= 1, not " + std::to_string(repeat));
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(repeat));
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    samples.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return samples;
}

// Comparing variants A and B (e.g. fp32 and int8): each round runs every function once, each timed
// alone, so a change in machine load during the measurement falls on all of them alike instead of
// on whichever ran last; every other round runs them in reverse order (A B, B A, ...), so none
// always runs right after another. `warmup` untimed rounds come first. Returns, per function in
// the order given, its `repeat` durations in milliseconds. Throws like time_ms, and for no
// functions.
std::vector<std::vector<double>> time_interleaved_ms(const std::vector<std::function<void()>>& fns,
                                                     int warmup, int repeat);

// The value in KiB of a "Key:   1234 kB" line of /proc/<pid>/status text; nullopt when absent.
std::optional<std::int64_t> parse_status_kib(const std::string& status_text,
                                             const std::string& key);

// Peak resident set size (VmHWM) and current resident set size (VmRSS) of this process, KiB.
// Throws Error("bench", ...) where /proc/self/status is unreadable or lacks the line (not Linux).
std::int64_t peak_rss_kib();
std::int64_t current_rss_kib();

// All of the above from one read, with the current RSS split into anonymous memory (heap, what
// the process allocated) and file pages (mapped code of the executable and shared libraries):
// the split tells our memory from the libraries'. -1 where the kernel gives no split (< 4.5).
struct ProcessMemory {
  std::int64_t peak_kib = 0, current_kib = 0, anon_kib = -1, file_kib = -1;
};
ProcessMemory process_memory();

// Number of threads this process has now (entries of /proc/self/task); throws like the above.
int process_thread_count();

}  // namespace vlrface
