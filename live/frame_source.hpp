// live/frame_source.hpp — where live frames come from: a V4L2 camera, a video file, a stream
// URL, or a folder of images, all behind one interface.
//
// Usage:
//   auto src = vlrface::live::open_source(vlrface::live::SourceSpec::parse("0"));   // /dev/video0
//   cv::Mat frame;  if (src->read(frame)) ...      // false: no frame now (ended or failed)
// parse() accepts: an integer (camera index), /dev/videoN, a video file, rtsp:// or http(s)://
// URLs, or a directory of images. Sources report failures by returning false and setting
// error(); they never throw from read(). Reconnecting with back-off is the caller's job
// (LiveEngine), so a source object is single-use.
// Thread safety: one thread per source.
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

  static SourceSpec parse(const std::string& text);
  std::string describe() const;
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // Blocks until the next frame (8-bit BGR) or failure/end.
  virtual bool read(cv::Mat& frame) = 0;
  virtual std::string error() const = 0;  // why the last read failed; empty at a normal end
};

std::unique_ptr<FrameSource> open_source(const SourceSpec& spec);

}  // namespace vlrface::live
