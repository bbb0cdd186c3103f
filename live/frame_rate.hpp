#pragma once
// Frames per second of the live engine: frames finished over a fixed recent span.

#include <deque>

namespace vlrface::live {

class FrameRate {
 public:
  explicit FrameRate(double window_s = 2.0) : window_s_(window_s) {}

  // Forgets every frame (a new run of the engine).
  void reset() { done_.clear(); }

  // Records a frame finished at `done_s` (seconds, non-decreasing) and returns the rate: frames
  // over the last `window_s` once the run is that old, before that frames after the first one
  // over the time since it (the first frame opens the span; it is not in it); 0 for one frame.
  // Counting over a fixed span, not between the first and last frame kept, keeps two quick
  // frames after a stall from reading as a high rate.
  double add(double done_s);

 private:
  double window_s_;
  std::deque<double> done_;
  double first_ = 0;  // of the first frame since reset()
};

}  // namespace vlrface::live
