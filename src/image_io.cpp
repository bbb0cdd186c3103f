#include "vlrface/image_io.hpp"

#include <fstream>
#include <iterator>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vlrface/error.hpp"

namespace vlrface {
namespace {

bool starts_with(const std::vector<std::uint8_t>& b, std::initializer_list<std::uint8_t> sig) {
  if (b.size() < sig.size()) return false;
  return std::equal(sig.begin(), sig.end(), b.begin());
}

// OpenCV decodes a truncated JPEG into a partly grey image with only a warning on stderr, which
// would silently enrol a damaged face; a complete JPEG ends with the EOI marker (trailing padding
// bytes are tolerated).
bool jpeg_is_complete(const std::vector<std::uint8_t>& b) {
  std::size_t end = b.size();
  std::size_t tail = 0;
  while (end >= 2 && tail < 64) {
    if (b[end - 2] == 0xFF && b[end - 1] == 0xD9) return true;
    --end;
    ++tail;
  }
  return false;
}

}  // namespace

cv::Mat to_bgr8(const cv::Mat& image) {
  cv::Mat img = image;
  if (img.depth() == CV_16U) {
    img.convertTo(img, CV_8U, 1.0 / 257.0);
  } else if (img.depth() != CV_8U) {
    cv::Mat tmp;
    cv::normalize(img, tmp, 0, 255, cv::NORM_MINMAX, CV_8U);
    img = tmp;
  }
  cv::Mat out;
  switch (img.channels()) {
    case 1: cv::cvtColor(img, out, cv::COLOR_GRAY2BGR); break;
    case 3: out = img; break;
    case 4: cv::cvtColor(img, out, cv::COLOR_BGRA2BGR); break;
    default: throw Error("image", "unsupported channel count " + std::to_string(img.channels()));
  }
  return out;
}

cv::Mat decode_image(const std::vector<std::uint8_t>& bytes, const std::string& what) {
  if (bytes.empty()) throw Error("image", what + ": file is empty (0 bytes)");
  const bool is_jpeg = starts_with(bytes, {0xFF, 0xD8, 0xFF});
  if (is_jpeg && !jpeg_is_complete(bytes)) {
    throw Error("image", what + ": JPEG data is truncated (no end-of-image marker)");
  }
  cv::Mat raw;
  try {
    raw = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw Error("image", what + ": cannot be decoded (" + e.err + ")");
  }
  if (raw.empty()) {
    throw Error("image", what + ": not an image OpenCV can read (" + std::to_string(bytes.size()) +
                             " bytes; supported: JPEG, PNG, BMP, PGM/PPM, TIFF, WebP)");
  }
  if (raw.cols < 1 || raw.rows < 1) throw Error("image", what + ": image has no pixels");
  return to_bgr8(raw);
}

cv::Mat load_image(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) throw Error("image", file.string() + ": no such file");
  if (std::filesystem::is_directory(file, ec)) {
    throw Error("image", file.string() + ": is a directory, not an image");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("image", file.string() + ": cannot be opened for reading");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  return decode_image(bytes, file.string());
}

}  // namespace vlrface
