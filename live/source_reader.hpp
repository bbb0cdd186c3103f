// live/source_reader.hpp — reads one frame source on its own thread for as long as it runs:
// opens it, hands on every frame, and after a failure reopens it with back-off (0.5 s doubling
// to 10 s; back to 0.5 s after a source that ran for 10 s). A finite source (a video file or an
// image folder without --loop) that plays to its end is not reopened.
//
// Usage:
//   SourceReader reader(SourceSpec::parse("0"),
//       {.frame = [&](cv::Mat f) { ... },            // called on the reader's thread
//        .state = [&](const std::string& state, const std::string& error) { ... }});
//   reader.start();  ...  reader.stop();              // stop() interrupts a blocked read
// States: "opening"; "running" (at the first frame after opening); "retrying in 0.5 s: <why>"
// (error: why); "ended" (error: "<source>: played to its end ..."). The callbacks must not call
// start() or stop().
// Thread safety: start() and stop() from one controlling thread; the callbacks run on the
// reader's thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <opencv2/core.hpp>
#include <string>
#include <thread>

#include "frame_source.hpp"

namespace vlrface::live {

class SourceReader {
 public:
  struct Callbacks {
    std::function<void(cv::Mat frame)> frame;
    std::function<void(const std::string& state, const std::string& error)> state;
  };

  SourceReader(SourceSpec spec, Callbacks callbacks);
  ~SourceReader();  // stop()
  SourceReader(const SourceReader&) = delete;
  SourceReader& operator=(const SourceReader&) = delete;

  void start();  // no-op while running; may follow stop()
  void stop();   // returns once the thread has ended and the source (an ffmpeg child) is closed
  const SourceSpec& spec() const { return spec_; }

 private:
  void run();
  bool wait_stop(double seconds);  // false when stopped first; seconds < 0: until stopped

  const SourceSpec spec_;
  const std::string name_;
  const Callbacks cb_;
  std::mutex mu_;                   // current_, and the back-off waits
  std::condition_variable stop_cv_;
  FrameSource* current_ = nullptr;  // the source being read, so stop() can interrupt it
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace vlrface::live
