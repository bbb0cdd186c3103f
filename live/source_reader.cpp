#include "source_reader.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace vlrface::live {
namespace {

using Clock = std::chrono::steady_clock;

constexpr double kMinBackoffS = 0.5;
constexpr double kMaxBackoffS = 10.0;

std::string fmt_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

bool is_finite_source(const SourceSpec& s) {
  return s.kind == SourceSpec::Kind::kVideoFile || s.kind == SourceSpec::Kind::kImageFolder;
}

}  // namespace

SourceReader::SourceReader(SourceSpec spec, Callbacks callbacks)
    : spec_(std::move(spec)), name_(spec_.describe()), cb_(std::move(callbacks)) {}

SourceReader::~SourceReader() {
  stop();
}

void SourceReader::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void SourceReader::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    if (current_) current_->interrupt();
  }
  stop_cv_.notify_all();
  thread_.join();
}

bool SourceReader::wait_stop(double seconds) {
  std::unique_lock lk(mu_);
  const auto stopped = [&] { return stopping_.load(); };
  if (seconds < 0) {
    stop_cv_.wait(lk, stopped);
    return false;
  }
  return !stop_cv_.wait_for(lk, std::chrono::duration<double>(seconds), stopped);
}

void SourceReader::run() {
  double backoff = kMinBackoffS;
  while (!stopping_) {
    cb_.state("opening", {});
    std::string err;
    std::unique_ptr<FrameSource> src;
    try {
      src = open_source(spec_);
    } catch (const std::exception& e) {
      err = e.what();
    }
    if (src) {
      {
        std::lock_guard lk(mu_);
        if (stopping_) break;
        current_ = src.get();
      }
      const auto opened = Clock::now();
      bool got_any = false;
      try {
        cv::Mat f;
        while (!stopping_ && src->read(f)) {
          if (!got_any) cb_.state("running", {});
          got_any = true;
          cb_.frame(std::move(f));
          f = cv::Mat();  // never write into a buffer the consumer may hold
        }
        err = src->error();
      } catch (const std::exception& e) {  // read() promises not to throw; be safe anyway
        err = e.what();
      }
      {
        std::lock_guard lk(mu_);
        current_ = nullptr;
      }
      src.reset();  // kills and reaps ffmpeg
      if (stopping_) break;
      if (err.empty()) {
        if (is_finite_source(spec_)) {
          cb_.state("ended", name_ + ": played to its end (--loop plays it again)");
          wait_stop(-1);
          break;
        }
        err = name_ + ": the source ended";
      }
      // A source that ran for a while gets a quick reconnect; one that keeps failing right
      // after opening is retried less and less often.
      if (got_any && Clock::now() - opened >= std::chrono::duration<double>(kMaxBackoffS)) {
        backoff = kMinBackoffS;
      }
    }
    cb_.state("retrying in " + fmt_seconds(backoff) + " s: " + err, err);
    if (!wait_stop(backoff)) break;
    backoff = std::min(backoff * 2, kMaxBackoffS);
  }
}

}  // namespace vlrface::live
