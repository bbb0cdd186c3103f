#include "vlrface/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace vlrface {
namespace {

std::string format(const char* f, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// "19 s", "4 min 05 s", "1 h 02 min": the time left, readable at a glance.
std::string duration_text(double s) {
  if (s < 9.95) return format("%.1f s", std::max(0.0, s));
  const long t = std::lround(s);
  if (t < 60) return std::to_string(t) + " s";
  char buf[48];
  if (t < 3600) {
    std::snprintf(buf, sizeof buf, "%ld min %02ld s", t / 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld h %02ld min", t / 3600, (t % 3600) / 60);
  }
  return buf;
}

}  // namespace

Progress::Progress(std::ostream& out, bool terminal, std::string label, std::size_t total,
                   ProgressOptions options)
    : out_(out),
      terminal_(terminal),
      label_(std::move(label)),
      total_(total),
      options_(std::move(options)) {
  start_ = now();
  last_print_ = start_;
}

Progress::~Progress() {
  try {
    finish();
  } catch (...) {  // a destructor must not throw; a lost progress line is harmless
  }
}

double Progress::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Progress::status_text(std::size_t done, std::size_t total, double seconds) {
  std::string s = std::to_string(done) + "/" + std::to_string(total);
  if (seconds <= 0 || done == 0) return s;
  const double rate = static_cast<double>(done) / seconds;
  s += " (" + format(rate < 10 ? "%.1f" : "%.0f", rate) + "/s";
  if (done < total) {
    s += ", " + duration_text(static_cast<double>(total - done) / rate) + " left";
  }
  return s + ")";
}

void Progress::update(std::size_t done) {
  if (finished_) return;
  done_ = std::min(std::max(done, done_), total_);
  const double t = now();
  const double every = terminal_ ? options_.redraw_s : options_.line_s;
  if (t - last_print_ < every) return;
  last_print_ = t;
  draw(t);
}

void Progress::draw(double t) {
  const std::string status = status_text(done_, total_, t - start_);
  if (terminal_) {
    const int width = std::max(1, options_.bar_width);
    const int filled =
        total_ ? static_cast<int>(static_cast<double>(width) * static_cast<double>(done_) /
                                  static_cast<double>(total_))
               : width;
    // \r and "erase to end of line": the bar is redrawn in place, never scrolls.
    out_ << "\r" << label_ << " [" << std::string(static_cast<std::size_t>(filled), '#')
         << std::string(static_cast<std::size_t>(width - filled), ' ') << "] " << status
         << "\033[K" << std::flush;
    drawn_ = true;
  } else {
    out_ << "vlrface: " << label_ << ": " << status << "\n" << std::flush;
  }
}

void Progress::message(const std::string& line) {
  if (terminal_ && drawn_) out_ << "\r\033[K";
  out_ << line << "\n";
  if (terminal_ && drawn_ && !finished_) {
    draw(now());
  } else {
    out_ << std::flush;
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  const double seconds = now() - start_;
  if (terminal_) {
    if (drawn_) out_ << "\r\033[K" << std::flush;
    return;
  }
  out_ << "vlrface: " << label_ << ": " << done_ << "/" << total_ << " in "
       << duration_text(seconds) << "\n"
       << std::flush;
}

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

}  // namespace vlrface
