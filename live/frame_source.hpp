// live/frame_source.hpp — where live frames come from: a V4L2 camera, a video file, a stream
// URL, or a folder of images, all behind one interface.
//
// Usage:
//   auto src = vlrface::live::open_source(vlrface::live::SourceSpec::parse("0"));   // /dev/video0
//   cv::Mat frame;  if (src->read(frame)) ...      // false: no frame now (ended or failed)
// parse() accepts: an integer (camera index), /dev/videoN, a video file, rtsp:// or http(s)://
// URLs, or a directory of images. Sources report failures by returning false and setting
// error(); they never throw from read(). Reconnecting with back-off is the caller's job
// (SourceReader, the live engine's capture thread), so a source object is single-use.
// Cameras, files and streams are decoded by an `ffmpeg` child process (Debian package ffmpeg)
// writing raw BGR frames to a pipe: OpenCV's videoio would load ~240 shared libraries. The child
// is started by the first read(), so construction is quick and a slow stream can be interrupted.
// Pace: a folder is played at `fps` (0: as fast as read); a video file at its own frame rate
// when fps > 0, as fast as it decodes when fps == 0; cameras and streams at their own rate.
// open_source() throws Error("live", ...) only for a spec that cannot work (a missing or empty
// image folder, invalid sizes); a missing or corrupt video file, an unreachable stream, a busy
// camera or a missing ffmpeg program are reported by read() returning false with error() set.
// Thread safety: one thread per source, except interrupt(), which any thread may call.
#pragma once

#include <memory>
#include <string>

#include <opencv2/core.hpp>

namespace vlrface::live {

struct SourceSpec {
  enum class Kind { kCamera, kVideoFile, kStream, kImageFolder };
  Kind kind = Kind::kCamera;
  std::string location;  // device path, file, URL or folder
  int width = 640;       // requested camera size (cameras only)
  int height = 480;
  double fps = 30;       // requested camera rate; for files: playback pace (0: as fast as read)
  bool loop = false;     // video files and folders: start again at the end
  // Files, streams and folders: frames larger than this (longest side) are shrunk, aspect kept,
  // because every frame in flight costs width x height x 3 bytes on a 64 MB budget; 0: never.
  int max_side = 1280;

  static SourceSpec parse(const std::string& text);
  std::string describe() const;
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // Blocks until the next frame (8-bit BGR) or failure/end.
  virtual bool read(cv::Mat& frame) = 0;
  virtual std::string error() const = 0;  // why the last read failed; empty at a normal end
  // Makes a read() blocked in another thread return false promptly (with error() empty), and
  // every later read() too: this is how LiveEngine::stop() unblocks its capture thread.
  // Sources whose read() never blocks for long need not override it.
  virtual void interrupt() {}
};

std::unique_ptr<FrameSource> open_source(const SourceSpec& spec);

}  // namespace vlrface::live
