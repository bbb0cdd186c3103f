#include "frame_source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <system_error>
#include <vector>

#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

extern char** environ;

namespace vlrface::live {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

// A stream or camera may take a while to connect (RTSP negotiation, USB camera start-up); after
// the first frame a silence this long means the source is dead even if ffmpeg has not noticed.
constexpr int kFirstFrameTimeoutMs = 30000;
constexpr int kStallTimeoutMs = 15000;
constexpr int kProbeTimeoutMs = 20000;
// Socket timeout handed to ffmpeg for network streams, in microseconds.
constexpr const char* kNetTimeoutUs = "10000000";
constexpr std::size_t kStderrTail = 4096;

std::string errno_text(int e) {
  return std::generic_category().message(e);
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string fmt_fps(double fps) {
  std::ostringstream o;
  o << fps;
  return o.str();
}

// The password of a URL's user-info part ("rtsp://user:pw@host/..."), empty when none: it is
// masked wherever the URL is shown (web page, logs, ffmpeg's error messages).
std::string url_password(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return {};
  const auto host_start = scheme_end + 3;
  const auto path_start = url.find('/', host_start);
  const auto at = url.rfind('@', path_start == std::string::npos ? url.size() : path_start);
  if (at == std::string::npos || at < host_start) return {};
  const auto colon = url.find(':', host_start);
  if (colon == std::string::npos || colon > at) return {};
  return url.substr(colon + 1, at - colon - 1);
}

std::string mask(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (auto p = text.find(secret); p != std::string::npos; p = text.find(secret, p + 3)) {
    text.replace(p, secret.size(), "***");
  }
  return text;
}

// ffmpeg's "[mov,mp4,m4a @ 0x55d0c8a2e7c0] " context prefix and our "file:" input prefix mean
// nothing to a user.
std::string tidy_ffmpeg_line(std::string line) {
  if (!line.empty() && line[0] == '[') {
    const auto end = line.find("] ");
    if (end != std::string::npos && line.find(" @ 0x") < end) line.erase(0, end + 2);
  }
  if (starts_with(line, "file:")) line.erase(0, 5);
  return line;
}

// The last meaningful lines of a child's stderr, on one line.
std::string summarise_stderr(const std::string& tail) {
  std::vector<std::string> lines;
  std::istringstream in(tail);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    line = tidy_ffmpeg_line(line);
    if (!line.empty() && (lines.empty() || lines.back() != line)) lines.push_back(line);
  }
  std::string out;
  const std::size_t first = lines.size() > 2 ? lines.size() - 2 : 0;
  for (std::size_t i = first; i < lines.size(); ++i) out += (out.empty() ? "" : " | ") + lines[i];
  if (out.size() > 400) out = "..." + out.substr(out.size() - 400);
  return out;
}

// Largest size with the same aspect whose longest side is at most `max_side`.
cv::Size fit(cv::Size s, int max_side) {
  const int longest = std::max(s.width, s.height);
  if (max_side <= 0 || longest <= max_side) return s;
  const double k = static_cast<double>(max_side) / longest;
  return {std::max(1, static_cast<int>(std::lround(s.width * k))),
          std::max(1, static_cast<int>(std::lround(s.height * k)))};
}

// Lets another thread wake a blocked read(): a flag for correctness plus a pipe that poll() can
// wait on, so a sleeping reader wakes at once instead of at its next timeout.
class Interrupter {
 public:
  Interrupter() {
    if (pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) fds_[0] = fds_[1] = -1;
  }
  ~Interrupter() {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  Interrupter(const Interrupter&) = delete;
  Interrupter& operator=(const Interrupter&) = delete;

  void trigger() {
    flag_ = true;
    if (fds_[1] >= 0) {
      const char c = 1;
      [[maybe_unused]] const ssize_t n = write(fds_[1], &c, 1);
    }
  }
  bool triggered() const { return flag_; }
  int fd() const { return fds_[0]; }

  // Sleeps until `until`; false when interrupted first.
  bool sleep_until(Clock::time_point until) const {
    while (!flag_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0) return true;
      pollfd p{fd(), POLLIN, 0};
      // Bounded so the flag is seen even if the pipe could not be created.
      poll(&p, fd() >= 0 ? 1 : 0, static_cast<int>(std::min<long long>(left.count(), 200)));
    }
    return false;
  }

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
  std::string start(const std::vector<std::string>& args) {
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

  int out() const { return out_; }
  int err() const { return err_; }
  void close_err() {
    if (err_ >= 0) close(err_);
    err_ = -1;
  }

  // Waits for the child to exit by itself (after its stdout ended); its wait status, or -1.
  int wait_exit() {
    close_fds();
    if (pid_ < 0) return -1;
    int status = -1;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

  void kill_and_reap() {
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

 private:
  void close_fds() {
    if (out_ >= 0) close(out_);
    close_err();
    out_ = -1;
  }
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
};

std::string describe_status(int status) {
  if (status == -1) return "ffmpeg status unknown";
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

enum class Pump { kFull, kEof, kInterrupted, kStalled, kIoError };

// Reads from the child's stdout into dst until `n` bytes are there (or, with `exact` false, until
// end of file), while draining its stderr into `tail` so that a chatty child never blocks on a
// full stderr pipe. Gives up after `stall_ms` without any stdout byte.
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

// After stdout ended: collect what the child still writes to stderr, for the error message.
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

// Cameras, video files and network streams, decoded by an ffmpeg child.
class FfmpegSource final : public FrameSource {
 public:
  explicit FfmpegSource(SourceSpec spec)
      : spec_(std::move(spec)), name_(spec_.describe()), secret_(url_password(spec_.location)) {}

  bool read(cv::Mat& frame) override {
    if (done_) return false;
    if (!started_ && !start()) return false;
    cv::Mat f(size_, CV_8UC3);
    std::size_t got = 0;
    int io_errno = 0;
    const std::size_t n = f.total() * f.elemSize();
    const Pump r = pump(child_, irq_, f.data, n, got,
                        frames_ ? kStallTimeoutMs : kFirstFrameTimeoutMs, tail_, io_errno);
    switch (r) {
      case Pump::kFull:
        ++frames_;
        frame = std::move(f);
        return true;
      case Pump::kInterrupted:
        return finish({});
      case Pump::kStalled:
        return finish("no frame for " +
                      std::to_string((frames_ ? kStallTimeoutMs : kFirstFrameTimeoutMs) / 1000) +
                      " s" + stderr_suffix());
      case Pump::kIoError:
        return finish("reading from ffmpeg: " + errno_text(io_errno));
      case Pump::kEof:
        break;
    }
    drain_stderr(child_, irq_, tail_);
    const int status = child_.wait_exit();
    if (irq_.triggered()) return finish({});
    const bool clean = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (clean && frames_ > 0) return finish({});  // the normal end of a file
    if (clean) return finish("no video frame in it" + stderr_suffix());
    return finish("ffmpeg failed (" + describe_status(status) + ")" + stderr_suffix());
  }

  std::string error() const override { return error_; }
  void interrupt() override { irq_.trigger(); }

 private:
  std::string stderr_suffix() const {
    const std::string s = summarise_stderr(tail_);
    return s.empty() ? "" : ": " + s;
  }

  bool finish(std::string why) {
    child_.kill_and_reap();
    done_ = true;
    error_ = why.empty() ? "" : mask(name_ + ": " + why, secret_);
    return false;
  }

  // The input as ffmpeg's -i wants it, with the options that belong before -i.
  std::vector<std::string> input_args() const {
    using K = SourceSpec::Kind;
    std::vector<std::string> a;
    switch (spec_.kind) {
      case K::kCamera:
        a = {"-f", "v4l2", "-video_size",
             std::to_string(spec_.width) + "x" + std::to_string(spec_.height)};
        if (spec_.fps > 0) a.insert(a.end(), {"-framerate", fmt_fps(spec_.fps)});
        a.insert(a.end(), {"-i", spec_.location});
        break;
      case K::kVideoFile: {
        // "file:" keeps a name containing ':' (or starting with "http") a local file.
        std::error_code ec;
        const fs::path abs = fs::absolute(spec_.location, ec);
        a = {"-i", "file:" + (ec ? spec_.location : abs.string())};
        break;
      }
      case K::kStream: {
        const std::string scheme = lower(spec_.location.substr(0, spec_.location.find(':')));
        if (scheme == "rtsp" || scheme == "rtsps") {
          a = {"-rtsp_transport", "tcp", "-timeout", kNetTimeoutUs};
        } else if (scheme == "http" || scheme == "https") {
          a = {"-rw_timeout", kNetTimeoutUs};
        }
        a.insert(a.end(), {"-i", spec_.location});
        break;
      }
      case K::kImageFolder:
        break;
    }
    return a;
  }

  bool probe(cv::Size& size) {
    std::vector<std::string> args = {"ffprobe",
                                     "-v",
                                     "error",
                                     "-select_streams",
                                     "v:0",
                                     "-show_entries",
                                     "stream=width,height:stream_side_data=rotation",
                                     "-of",
                                     "flat"};
    std::vector<std::string> in = input_args();
    // ffprobe takes the input as a plain argument, not after -i.
    in.erase(std::find(in.begin(), in.end(), "-i"));
    args.insert(args.end(), in.begin(), in.end());
    Child probe;
    if (const std::string e = probe.start(args); !e.empty()) {
      return finish(e + " (ffprobe is part of the Debian package ffmpeg)");
    }
    std::string out(64 * 1024, '\0');
    std::string tail;
    std::size_t got = 0;
    int io_errno = 0;
    const Pump r = pump(probe, irq_, reinterpret_cast<std::uint8_t*>(out.data()), out.size(), got,
                        kProbeTimeoutMs, tail, io_errno);
    out.resize(got);
    if (r == Pump::kInterrupted) return finish({});
    if (r == Pump::kStalled)
      return finish("ffprobe found nothing in " + std::to_string(kProbeTimeoutMs / 1000) + " s");
    drain_stderr(probe, irq_, tail);
    const int status = probe.wait_exit();
    int w = 0, h = 0, rotation = 0;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      const auto eq = line.find('=');
      if (eq == std::string::npos) continue;
      const std::string key = line.substr(0, eq);
      std::string value = line.substr(eq + 1);
      value.erase(std::remove(value.begin(), value.end(), '"'), value.end());
      try {
        if (key.ends_with(".width")) w = std::stoi(value);
        if (key.ends_with(".height")) h = std::stoi(value);
        if (key.ends_with(".rotation")) rotation = static_cast<int>(std::lround(std::stod(value)));
      } catch (const std::exception&) {
      }
    }
    if (w <= 0 || h <= 0) {
      const std::string why = summarise_stderr(tail);
      if (!why.empty()) return finish(why);
      if (status != 0) return finish("ffprobe failed (" + describe_status(status) + ")");
      return finish("no video stream in it");
    }
    // ffmpeg turns portrait phone videos upright, so its frames are the probed size transposed.
    if (std::abs(rotation) % 180 == 90) std::swap(w, h);
    size = {w, h};
    return true;
  }

  bool start() {
    started_ = true;
    using K = SourceSpec::Kind;
    std::string filter;
    if (spec_.kind == K::kCamera) {
      // The driver may pick another mode than the one asked for; fitting (with black borders
      // when the aspect differs) keeps the frames the promised size without distorting faces.
      size_ = {spec_.width, spec_.height};
      const std::string w = std::to_string(spec_.width), h = std::to_string(spec_.height);
      filter = "scale=" + w + ":" + h + ":force_original_aspect_ratio=decrease,pad=" + w + ":" + h +
               ":(ow-iw)/2:(oh-ih)/2";
    } else {
      cv::Size probed;
      if (!probe(probed)) return false;
      size_ = fit(probed, spec_.max_side);
      // Always scaling to the probed size keeps the frame size fixed even if the stream changes
      // resolution midway: a size change would otherwise misframe every following frame.
      filter = "scale=" + std::to_string(size_.width) + ":" + std::to_string(size_.height);
    }
    std::vector<std::string> args = {"ffmpeg",   "-nostdin",  "-hide_banner",
                                     "-nostats", "-loglevel", "error"};
    if (spec_.kind == K::kVideoFile) {
      if (spec_.fps > 0) args.push_back("-re");
      if (spec_.loop) args.insert(args.end(), {"-stream_loop", "-1"});
    }
    const auto in = input_args();
    args.insert(args.end(), in.begin(), in.end());
    args.insert(args.end(),
                {"-map", "0:v:0", "-vf", filter, "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"});
    if (const std::string e = child_.start(args); !e.empty()) {
      return finish(e + " (install the Debian package ffmpeg)");
    }
    return true;
  }

  SourceSpec spec_;
  std::string name_;
  std::string secret_;
  Interrupter irq_;
  Child child_;
  cv::Size size_;
  bool started_ = false;
  bool done_ = false;
  std::uint64_t frames_ = 0;
  std::string error_;
  std::string tail_;
};

bool is_image_file(const fs::path& p) {
  static const char* kExt[] = {".jpg", ".jpeg", ".png", ".bmp", ".pgm",
                               ".ppm", ".pnm",  ".tga", ".gif"};
  const std::string e = lower(p.extension().string());
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* x) { return e == x; });
}

// "frame2" before "frame10": runs of digits compare by value.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i]));
    const bool db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      std::size_t iz = i, jz = j;
      while (iz + 1 < ie && a[iz] == '0') ++iz;
      while (jz + 1 < je && b[jz] == '0') ++jz;
      const std::string na = a.substr(iz, ie - iz), nb = b.substr(jz, je - jz);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return a.size() - i < b.size() - j;
  return a < b;
}

class ImageFolderSource final : public FrameSource {
 public:
  explicit ImageFolderSource(SourceSpec spec) : spec_(std::move(spec)), name_(spec_.describe()) {
    std::error_code ec;
    if (!fs::is_directory(spec_.location, ec)) {
      throw Error("live", "image folder '" + spec_.location + "' does not exist");
    }
    list();
    if (files_.empty()) {
      throw Error("live", "image folder '" + spec_.location +
                              "' holds no image (.jpg, .png, .bmp, .pgm, .ppm, .tga, .gif)");
    }
  }

  bool read(cv::Mat& frame) override {
    if (done_) return false;
    std::string last_error;
    // Unreadable files are skipped (a folder being filled may hold a half-written one); a whole
    // pass without a readable image is an error.
    for (std::size_t failures = 0;;) {
      if (index_ >= files_.size()) {
        if (!spec_.loop) return finish({});
        list();  // picks up images added or removed meanwhile
        index_ = 0;
        if (files_.empty()) return finish("no image left in the folder");
      }
      if (spec_.fps > 0 && !irq_.sleep_until(due_)) return finish({});
      if (irq_.triggered()) return finish({});
      const fs::path file = files_[index_++];
      try {
        cv::Mat img = load_image(file);
        const cv::Size s = fit(img.size(), spec_.max_side);
        if (s != img.size()) cv::resize(img, img, s, 0, 0, cv::INTER_AREA);
        frame = std::move(img);
        advance_due();
        return true;
      } catch (const std::exception& e) {
        last_error = e.what();
      }
      if (++failures >= std::max<std::size_t>(files_.size(), 1)) return finish(last_error);
    }
  }

  std::string error() const override { return error_; }
  void interrupt() override { irq_.trigger(); }

 private:
  void list() {
    files_.clear();
    std::error_code ec;
    for (fs::directory_iterator it(spec_.location, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code fe;
      if (it->is_regular_file(fe) && is_image_file(it->path())) files_.push_back(it->path());
    }
    std::sort(files_.begin(), files_.end(), [](const fs::path& a, const fs::path& b) {
      return natural_less(a.filename().string(), b.filename().string());
    });
  }

  void advance_due() {
    if (spec_.fps <= 0) return;
    const auto period =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / spec_.fps));
    const auto now = Clock::now();
    // A fixed schedule keeps the average rate exact; after a long hiccup it restarts from now
    // rather than bursting to catch up.
    due_ = (due_ + period < now - period) ? now + period : due_ + period;
  }

  bool finish(std::string why) {
    done_ = true;
    error_ = why.empty() ? "" : name_ + ": " + why;
    return false;
  }

  SourceSpec spec_;
  std::string name_;
  Interrupter irq_;
  std::vector<fs::path> files_;
  std::size_t index_ = 0;
  Clock::time_point due_ = Clock::now();
  bool done_ = false;
  std::string error_;
};

const char* kKnownStreams[] = {"rtsp",  "rtsps", "rtmp", "rtmps", "http",
                               "https", "srt",   "udp",  "tcp"};

}  // namespace

SourceSpec SourceSpec::parse(const std::string& text) {
  const std::string kExpected =
      "expected a camera index (0), /dev/videoN, a video file, an rtsp:// or http(s):// URL, or "
      "a folder of images";
  if (text.empty()) throw Error("live", "empty source: " + kExpected);
  SourceSpec s;
  s.location = text;
  if (text.size() <= 3 && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    s.kind = Kind::kCamera;
    s.location = "/dev/video" + std::to_string(std::stoi(text));
    return s;
  }
  // Not checked for existence: a camera may be plugged in later, and the engine retries.
  if (starts_with(text, "/dev/video")) {
    s.kind = Kind::kCamera;
    return s;
  }
  if (const auto p = text.find("://"); p != std::string::npos) {
    const std::string scheme = lower(text.substr(0, p));
    if (std::any_of(std::begin(kKnownStreams), std::end(kKnownStreams),
                    [&](const char* k) { return scheme == k; })) {
      s.kind = Kind::kStream;
      return s;
    }
    if (scheme != "file") {
      throw Error("live", "source '" + mask(text, url_password(text)) +
                              "': unsupported URL scheme '" + scheme +
                              "' (rtsp, rtsps, rtmp, http, https, srt, udp, tcp)");
    }
    s.location = text.substr(p + 3);
  }
  std::error_code ec;
  const fs::file_status st = fs::status(s.location, ec);
  if (fs::is_directory(st)) {
    s.kind = Kind::kImageFolder;
  } else if (fs::is_character_file(st)) {
    // /dev/v4l/by-id/... links: stable names for the same camera.
    s.kind = Kind::kCamera;
  } else if (fs::exists(st)) {
    s.kind = Kind::kVideoFile;
  } else {
    throw Error("live", "source '" + s.location + "' does not exist (" + kExpected + ")");
  }
  return s;
}

std::string SourceSpec::describe() const {
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  switch (kind) {
    case Kind::kCamera:
      return "camera " + location + " (" + size + (fps > 0 ? " @ " + fmt_fps(fps) + " fps" : "") +
             ")";
    case Kind::kVideoFile:
      return "video file " + location + (fps > 0 ? "" : " (as fast as decoded)") +
             (loop ? " (loop)" : "");
    case Kind::kStream:
      return "stream " + mask(location, url_password(location));
    case Kind::kImageFolder:
      return "image folder " + location + " (" +
             (fps > 0 ? fmt_fps(fps) + " fps" : "as fast as read") + (loop ? ", loop" : "") + ")";
  }
  return location;
}

std::unique_ptr<FrameSource> open_source(const SourceSpec& spec) {
  if (spec.location.empty()) throw Error("live", "source has no location");
  if (!(spec.fps >= 0) || spec.fps > 1000) {
    throw Error("live", spec.describe() + ": fps must be 0..1000");
  }
  if (spec.kind == SourceSpec::Kind::kCamera &&
      (spec.width < 16 || spec.height < 16 || spec.width > 8192 || spec.height > 8192)) {
    throw Error("live", spec.describe() + ": camera size must be 16..8192 px per side");
  }
  if (spec.kind == SourceSpec::Kind::kImageFolder) return std::make_unique<ImageFolderSource>(spec);
  return std::make_unique<FfmpegSource>(spec);
}

}  // namespace vlrface::live
