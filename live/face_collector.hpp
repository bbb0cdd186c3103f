// live/face_collector.hpp — picks enrolment faces out of live frames: while a collection runs,
// each processed frame is offered, and its face is kept when it is the only one, large, frontal,
// sharp and not a repeat of a face already kept.
//
// Usage (the live engine does this):
//   FaceCollector c;
//   c.open();                                   // when the engine starts
//   c.offer(results, frame_number);             // processing thread: Pipeline's faces, every frame
//   auto faces = c.collect(5, 30000, progress); // any thread: blocks until 5 faces, timeout, close
//   c.close();                                  // when the engine stops: collect() returns early
// Thread safety: all methods may be called from any thread; one collect() at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <opencv2/core.hpp>
#include <vector>

#include "vlrface/pipeline.hpp"

namespace vlrface::live {

class FaceCollector {
 public:
  void open();
  void close();
  // Keeps the frame's face (Pipeline's aligned 112x112) when a collection needs one and it passes.
  void offer(const std::vector<FaceResult>& faces, std::uint64_t frame_number);
  // Up to `count` aligned faces over the next frames (fewer after `timeout_ms` or close());
  // `progress(done, count)` per kept face, on the calling thread, without the lock held.
  // Error("live", ...) while another collection runs.
  std::vector<cv::Mat> collect(int count, int timeout_ms,
                               const std::function<void(int, int)>& progress = {});

 private:
  using Clock = std::chrono::steady_clock;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = true;
  bool active_ = false;
  int count_ = 0;
  std::vector<cv::Mat> faces_;
  std::uint64_t last_frame_ = 0;
  Clock::time_point last_time_{};
};

}  // namespace vlrface::live
