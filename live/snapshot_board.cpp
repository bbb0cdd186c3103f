#include "snapshot_board.hpp"

#include <algorithm>
#include <chrono>

namespace vlrface::live {

SnapshotBoard::SnapshotBoard(std::string source_name) : source_name_(std::move(source_name)) {
  auto first = std::make_shared<Snapshot>();
  first->source = source_name_;
  first->source_state = state_;
  snap_ = std::move(first);
}

void SnapshotBoard::set_state(const std::string& state, const std::string& error) {
  std::lock_guard lk(mu_);
  const bool down = state.rfind("retrying", 0) == 0 || state == "ended";
  if (state == "running") {
    down_since_.reset();
    error_.clear();
  } else if (down) {
    if (!down_since_) {
      down_since_ = std::chrono::system_clock::now();
      ++failures_;
    }
    error_ = error;
  }
  if (state == state_) return;
  state_ = state;
  auto s = std::make_shared<Snapshot>(*snap_);
  s->source_state = state;
  s->source_down_since = down_since_;
  s->source_error = error_;
  s->source_failures = failures_;
  if (state != "running") s->fps = 0;
  if (state == "opening" || state.rfind("retrying", 0) == 0) {
    s->frame = cv::Mat();
    s->faces.clear();
  }
  snap_ = std::move(s);
  cv_.notify_all();
}

void SnapshotBoard::publish(std::shared_ptr<Snapshot> s) {
  std::lock_guard lk(mu_);
  s->source_state = state_;
  s->source = source_name_;
  s->source_down_since = down_since_;
  s->source_error = error_;
  s->source_failures = failures_;
  snap_ = std::move(s);
  cv_.notify_all();
}

void SnapshotBoard::forget_failure() {
  std::lock_guard lk(mu_);
  down_since_.reset();
  error_.clear();
}

std::shared_ptr<const Snapshot> SnapshotBoard::latest() const {
  std::lock_guard lk(mu_);
  return snap_;
}

std::shared_ptr<const Snapshot> SnapshotBoard::wait(std::uint64_t after, int timeout_ms) const {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, std::chrono::milliseconds(std::max(0, timeout_ms)),
               [&] { return snap_->frame_number > after; });
  return snap_;
}

}  // namespace vlrface::live
