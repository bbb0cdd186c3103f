#include "frame_source.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "source_detail.hpp"
#include "vlrface/error.hpp"

namespace vlrface::live {
namespace fs = std::filesystem;
using namespace detail;

namespace detail {

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

cv::Size fit(cv::Size s, int max_side) {
  const int longest = std::max(s.width, s.height);
  if (max_side <= 0 || longest <= max_side) return s;
  const double k = static_cast<double>(max_side) / longest;
  return {std::max(1, static_cast<int>(std::lround(s.width * k))),
          std::max(1, static_cast<int>(std::lround(s.height * k)))};
}

}  // namespace detail

namespace {

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
  if (spec.kind == SourceSpec::Kind::kImageFolder) return make_image_folder_source(spec);
  return make_ffmpeg_source(spec);
}

}  // namespace vlrface::live
