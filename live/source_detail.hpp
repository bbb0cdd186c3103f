// live/source_detail.hpp — private to the live library: the two kinds of FrameSource behind
// open_source() and the small text helpers they and SourceSpec share. Not installed.
#pragma once

#include <chrono>
#include <memory>
#include <opencv2/core.hpp>
#include <string>

#include "frame_source.hpp"

namespace vlrface::live::detail {

using Clock = std::chrono::steady_clock;

// Cameras, video files and network streams, decoded by an ffmpeg child (ffmpeg_source.cpp).
std::unique_ptr<FrameSource> make_ffmpeg_source(SourceSpec spec);
// A folder of images in natural order (image_folder_source.cpp). Throws Error("live", ...) for a
// missing folder or one without images.
std::unique_ptr<FrameSource> make_image_folder_source(SourceSpec spec);

std::string errno_text(int e);
bool starts_with(const std::string& s, const std::string& prefix);
std::string lower(std::string s);
std::string fmt_fps(double fps);
// The password of a URL's user-info part ("rtsp://user:pw@host/..."), empty when none: it is
// masked wherever the URL is shown (web page, logs, ffmpeg's error messages).
std::string url_password(const std::string& url);
// `text` with every occurrence of `secret` replaced by "***".
std::string mask(std::string text, const std::string& secret);
// Largest size with the same aspect whose longest side is at most `max_side` (0: no limit).
cv::Size fit(cv::Size s, int max_side);

}  // namespace vlrface::live::detail
