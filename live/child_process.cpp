// A child program on pipes, and an interruptible wait: see child_process.hpp.
#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

extern char** environ;

namespace vlrface::live::detail {
namespace {

constexpr std::size_t kStderrTail = 4096;

}  // namespace

Interrupter::Interrupter() {
  if (pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) fds_[0] = fds_[1] = -1;
}

Interrupter::~Interrupter() {
  for (int fd : fds_) {
    if (fd >= 0) close(fd);
  }
}

void Interrupter::trigger() {
  flag_ = true;
  if (fds_[1] >= 0) {
    const char c = 1;
    [[maybe_unused]] const ssize_t n = write(fds_[1], &c, 1);
  }
}

bool Interrupter::sleep_until(Clock::time_point until) const {
  while (!flag_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return true;
    pollfd p{fd(), POLLIN, 0};
    // Bounded so the flag is seen even if the pipe could not be created.
    poll(&p, fd() >= 0 ? 1 : 0, static_cast<int>(std::min<long long>(left.count(), 200)));
  }
  return false;
}

std::string Child::start(const std::vector<std::string>& args) {
  kill_and_reap();
  int out[2], err[2];
  // O_CLOEXEC: another thread spawning at the same moment must not inherit these ends (a
  // leaked write end would keep our read() from ever seeing end of file).
  if (pipe2(out, O_CLOEXEC) != 0) return "pipe: " + errno_text(errno);
  if (pipe2(err, O_CLOEXEC) != 0) {
    const int e = errno;
    close(out[0]);
    close(out[1]);
    return "pipe: " + errno_text(e);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A server may block signals in its threads or ignore SIGPIPE; the child must start with the
  // defaults so that it dies when we close its pipe.
  sigset_t none, pipe_only;
  sigemptyset(&none);
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &pipe_only);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    return "cannot run " + args[0] + ": " + errno_text(rc);
  }
  pid_ = pid;
  out_ = out[0];
  err_ = err[0];
  return {};
}

void Child::close_err() {
  if (err_ >= 0) close(err_);
  err_ = -1;
}

int Child::wait_exit() {
  close_fds();
  if (pid_ < 0) return -1;
  int status = -1;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

void Child::kill_and_reap() {
  // Closing our ends first makes a child that ignores signals die of SIGPIPE anyway.
  close_fds();
  if (pid_ < 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  // ECHILD (the application set SIGCHLD to SIG_IGN) means the kernel reaped it already.
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void Child::close_fds() {
  if (out_ >= 0) close(out_);
  close_err();
  out_ = -1;
}

std::string describe_status(int status) {
  if (status == -1) return "ffmpeg status unknown";
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

Pump pump(Child& c, const Interrupter& irq, std::uint8_t* dst, std::size_t n, std::size_t& got,
          int stall_ms, std::string& tail, int& io_errno) {
  got = 0;
  auto last_data = Clock::now();
  while (true) {
    if (irq.triggered()) return Pump::kInterrupted;
    pollfd p[3];
    nfds_t np = 0;
    p[np++] = {c.out(), POLLIN, 0};
    const int err_at = c.err() >= 0 ? static_cast<int>(np) : -1;
    if (c.err() >= 0) p[np++] = {c.err(), POLLIN, 0};
    if (irq.fd() >= 0) p[np++] = {irq.fd(), POLLIN, 0};
    const auto idle =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_data).count();
    if (idle >= stall_ms) return Pump::kStalled;
    const int rc = poll(p, np, static_cast<int>(std::min<long long>(stall_ms - idle, 250)));
    if (rc < 0) {
      if (errno == EINTR) continue;
      io_errno = errno;
      return Pump::kIoError;
    }
    if (err_at >= 0 && (p[err_at].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[1024];
      const ssize_t k = ::read(c.err(), buf, sizeof buf);
      if (k > 0) {
        tail.append(buf, static_cast<std::size_t>(k));
        if (tail.size() > kStderrTail) tail.erase(0, tail.size() - kStderrTail);
      } else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
        c.close_err();
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t k = ::read(c.out(), dst + got, n - got);
      if (k > 0) {
        got += static_cast<std::size_t>(k);
        last_data = Clock::now();
        if (got == n) return Pump::kFull;
      } else if (k == 0) {
        return Pump::kEof;
      } else if (errno != EINTR && errno != EAGAIN) {
        io_errno = errno;
        return Pump::kIoError;
      }
    }
  }
}

void drain_stderr(Child& c, const Interrupter& irq, std::string& tail) {
  const auto until = Clock::now() + std::chrono::seconds(2);
  while (c.err() >= 0 && !irq.triggered() && Clock::now() < until) {
    pollfd p{c.err(), POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[1024];
    const ssize_t k = ::read(c.err(), buf, sizeof buf);
    if (k > 0) {
      tail.append(buf, static_cast<std::size_t>(k));
      if (tail.size() > kStderrTail) tail.erase(0, tail.size() - kStderrTail);
    } else if (k == 0 || errno != EINTR) {
      c.close_err();
    }
  }
}

}  // namespace vlrface::live::detail
