// vlrface/progress.hpp — progress of long work (enrolment, evaluation) for a person watching.
//
// Usage:
//   vlrface::Progress p(std::cerr, vlrface::stderr_is_terminal(), "enroll", files.size());
//   for (...) { ...; p.update(++done); }
//   p.finish();                      // also run by the destructor
// On a terminal: one line redrawn in place (at most every `redraw_s`), with a bar, the count,
// the rate and the time left; finish() clears it, so the command's own output starts on a clean
// line. Elsewhere (a log file, a pipe, CI): one plain line every `line_s` seconds,
// "vlrface: enroll: 120/530 (21.9/s, 19 s left)", and one last line with the total time, so a
// log shows progress without thousands of lines. Short work (under `line_s`) prints only the
// last line. The clock is injectable so that tests need no sleeping.
// Thread safety: none; update it from one thread (the workers' counter is read by that thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <ostream>
#include <string>

namespace vlrface {

struct ProgressOptions {
  double redraw_s = 0.1;  // terminal: the bar is redrawn at most this often
  double line_s = 10;     // not a terminal: a line at most this often
  int bar_width = 30;
  // Seconds on a monotonic clock; empty: std::chrono::steady_clock.
  std::function<double()> clock;
};

class Progress {
 public:
  Progress(std::ostream& out, bool terminal, std::string label, std::size_t total,
           ProgressOptions options = {});
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` of `total` items are finished (done may stay or grow; values above total count as
  // total). Prints only when the throttle allows.
  void update(std::size_t done);
  // Prints `line` (and a newline) without garbling the display: on a terminal the bar is
  // erased first and redrawn below the line.
  void message(const std::string& line);
  // The last line (not a terminal) or clears the bar (terminal). Idempotent.
  void finish();

  // "120/530 (21.9/s, 19 s left)": what both forms show, from `seconds` since the start.
  static std::string status_text(std::size_t done, std::size_t total, double seconds);

 private:
  double now() const;
  void draw(double t);

  std::ostream& out_;
  bool terminal_;
  std::string label_;
  std::size_t total_;
  ProgressOptions options_;
  double start_ = 0, last_print_ = 0;
  std::size_t done_ = 0;
  bool drawn_ = false, finished_ = false;
};

// Whether stderr is a terminal (isatty), the usual choice for `terminal`.
bool stderr_is_terminal();

}  // namespace vlrface
