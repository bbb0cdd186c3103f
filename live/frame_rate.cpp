#include "frame_rate.hpp"

namespace vlrface::live {

double FrameRate::add(double done_s) {
  if (done_.empty()) first_ = done_s;
  done_.push_back(done_s);
  while (done_s - done_.front() > window_s_) done_.pop_front();
  const double n = static_cast<double>(done_.size());
  const double since_first = done_s - first_;
  if (since_first >= window_s_) return n / window_s_;
  if (since_first > 0) return (n - 1) / since_first;
  return 0;
}

}  // namespace vlrface::live
