// live/child_process.hpp — private to the live library: a child program on pipes (the ffmpeg and
// ffprobe behind FfmpegSource) and a way for another thread to wake a blocked reader.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "source_detail.hpp"

namespace vlrface::live::detail {

// Lets another thread wake a blocked read(): a flag for correctness plus a pipe that poll() can
// wait on, so a sleeping reader wakes at once instead of at its next timeout.
class Interrupter {
 public:
  Interrupter();
  ~Interrupter();
  Interrupter(const Interrupter&) = delete;
  Interrupter& operator=(const Interrupter&) = delete;

  void trigger();
  bool triggered() const { return flag_; }
  int fd() const { return fds_[0]; }  // readable once triggered; -1 if no pipe could be made
  // Sleeps until `until`; false when interrupted first.
  bool sleep_until(Clock::time_point until) const;

 private:
  int fds_[2] = {-1, -1};
  std::atomic<bool> flag_{false};
};

// A child process (no shell: arguments go to exec as they are, so file names cannot inject
// anything) with stdin on /dev/null and stdout/stderr on pipes. Killed and reaped on
// destruction, so no zombie outlives its source.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { kill_and_reap(); }

  // Empty on success, else why the program could not be started.
  std::string start(const std::vector<std::string>& args);

  int out() const { return out_; }
  int err() const { return err_; }
  void close_err();

  // Waits for the child to exit by itself (after its stdout ended); its wait status, or -1.
  int wait_exit();
  void kill_and_reap();

 private:
  void close_fds();
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
};

// "exit status 1", "killed by signal 9": a wait status for an error message.
std::string describe_status(int status);

enum class Pump { kFull, kEof, kInterrupted, kStalled, kIoError };

// Reads from the child's stdout into dst until `n` bytes are there or its stdout ends, while
// draining its stderr into `tail` (its last 4 KiB) so that a chatty child never blocks on a full
// stderr pipe. Gives up after `stall_ms` without any stdout byte.
Pump pump(Child& c, const Interrupter& irq, std::uint8_t* dst, std::size_t n, std::size_t& got,
          int stall_ms, std::string& tail, int& io_errno);

// After stdout ended: collect what the child still writes to stderr (for at most 2 s), for the
// error message.
void drain_stderr(Child& c, const Interrupter& irq, std::string& tail);

}  // namespace vlrface::live::detail
