// vlrface/image_io.hpp — reading images with errors that say what is wrong with the file.
//
// Usage: cv::Mat bgr = vlrface::load_image("face.jpg");   // always 8-bit, 3-channel BGR
// Grey and 16-bit images are converted; a JPEG's EXIF orientation is applied (a phone photo
// comes back upright); a missing, empty, truncated or non-image file raises
// Error("image", "<file>: <what is wrong>"). Decoding and encoding use Debian's stb library rather
// than OpenCV's imgcodecs, whose Debian build pulls in GDAL and ~110 more shared libraries
// (about 44 MB of resident memory at start-up on a Pi-class budget).
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace vlrface {

// What decoding may allocate, checked from the file's header before a single pixel is decoded:
// a small file can claim a huge image (a 134 KB PNG of 4096x4096 16-bit RGBA decodes to 128 MiB,
// and the decoder holds about twice that while inflating). Beyond either limit the image is
// refused with Error("image-limit", "<file>: ...") naming the size.
struct DecodeLimits {
  long max_pixels = 50'000'000;               // width x height: a 48 Mpx phone photo passes
  std::size_t max_bytes = std::size_t{192} << 20;  // width x height x channels x bytes/channel
  // What load_image reads from a file at most: a path that names a device or a pipe (/dev/zero,
  // an image path inside an imported gallery.json) is refused past it instead of filling memory.
  std::size_t max_file_bytes = std::size_t{256} << 20;
};

cv::Mat load_image(const std::filesystem::path& file, const DecodeLimits& limits = {});
// Same checks on bytes already in memory (an upload); `what` names the source in errors.
cv::Mat decode_image(const std::vector<std::uint8_t>& bytes, const std::string& what);
// The same without a copy of the bytes, and with a memory bound for large images: when
// `max_side` > 0 and the image's longer side exceeds it, the image comes back shrunk so that its
// longer side is at most `max_side`. A JPEG is then decoded at a reduced scale (M/8) by libjpeg
// where available, so its full-size pixels never exist; its longer side is then between 3/4 of
// `max_side` and `max_side`. Other formats (or without libjpeg) are shrunk to exactly `max_side`
// (area interpolation) straight from the decoder's buffer, which is freed at once. `scale` (when
// given) receives the factor applied to both sides (1: none).
cv::Mat decode_image(const std::uint8_t* data, std::size_t size, const std::string& what,
                     int max_side = 0, double* scale = nullptr, const DecodeLimits& limits = {});
// Converts grey, BGRA and 16-bit images to 8-bit BGR.
cv::Mat to_bgr8(const cv::Mat& image);

// Encoders for 8-bit BGR (or grey) images; Error("image", ...) on failure.
std::vector<std::uint8_t> encode_jpeg(const cv::Mat& image, int quality = 95);
std::vector<std::uint8_t> encode_png(const cv::Mat& image);

}  // namespace vlrface
