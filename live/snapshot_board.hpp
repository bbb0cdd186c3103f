#pragma once
// Where the live engine publishes what it sees: the latest Snapshot, with the frame source's
// state (running, opening, retrying ..., ended, stopped), when it went down and why. Readers
// (the web routes) take the latest or wait for a newer frame; writers are the processing
// thread (publish) and the capture thread (set_state). The source state lives under the same
// mutex as the snapshot so the last snapshot always carries the newest state, whichever thread
// published last.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "live_engine.hpp"

namespace vlrface::live {

class SnapshotBoard {
 public:
  explicit SnapshotBoard(std::string source_name);

  // The source changed state. `error`: why it went down (with "retrying ..." and "ended").
  // Going down starts a failure (counted once, timed from now) that "opening" between two
  // retries keeps and "running" ends. While (re)opening the snapshot shows no picture: a stale
  // last frame would look live.
  void set_state(const std::string& state, const std::string& error = {});

  // A processed frame: stamped with the source's current state and made the latest.
  void publish(std::shared_ptr<Snapshot> s);

  // A new run of the engine: a failure before it is not this run's.
  void forget_failure();

  std::shared_ptr<const Snapshot> latest() const;
  // The first snapshot with frame_number > after, or the latest after timeout_ms.
  std::shared_ptr<const Snapshot> wait(std::uint64_t after, int timeout_ms) const;

 private:
  const std::string source_name_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::shared_ptr<const Snapshot> snap_;
  std::string state_ = "stopped";
  std::optional<std::chrono::system_clock::time_point> down_since_;  // as Snapshot's
  std::string error_;
  int failures_ = 0;
};

}  // namespace vlrface::live
