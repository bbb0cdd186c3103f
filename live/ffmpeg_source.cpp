// Cameras, video files and network streams, decoded by an ffmpeg child process.
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <system_error>
#include <vector>

#include "child_process.hpp"
#include "source_detail.hpp"

namespace vlrface::live::detail {
namespace fs = std::filesystem;
namespace {

// A stream or camera may take a while to connect (RTSP negotiation, USB camera start-up); after
// the first frame a silence this long means the source is dead even if ffmpeg has not noticed.
constexpr int kFirstFrameTimeoutMs = 30000;
constexpr int kStallTimeoutMs = 15000;
constexpr int kProbeTimeoutMs = 20000;
// Socket timeout handed to ffmpeg for network streams, in microseconds.
constexpr const char* kNetTimeoutUs = "10000000";

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

// Cameras, video files and network streams, decoded by an ffmpeg child writing raw BGR frames
// to a pipe (frame_source.hpp says why not OpenCV's videoio).
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

}  // namespace

std::unique_ptr<FrameSource> make_ffmpeg_source(SourceSpec spec) {
  return std::make_unique<FfmpegSource>(std::move(spec));
}

}  // namespace vlrface::live::detail
