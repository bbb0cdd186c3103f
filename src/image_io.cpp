#include "vlrface/image_io.hpp"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <opencv2/imgproc.hpp>
#include <string>

#include "vlrface/error.hpp"

namespace vlrface {
namespace {

bool starts_with(const std::vector<std::uint8_t>& b, std::initializer_list<std::uint8_t> sig) {
  if (b.size() < sig.size()) return false;
  return std::equal(sig.begin(), sig.end(), b.begin());
}

// A truncated JPEG decodes into a partly grey image with at most a warning, which would silently
// enrol a damaged face; a complete JPEG ends with the EOI marker (trailing padding is tolerated).
bool jpeg_is_complete(const std::vector<std::uint8_t>& b) {
  std::size_t end = b.size();
  for (std::size_t tail = 0; end >= 2 && tail < 64; ++tail, --end) {
    if (b[end - 2] == 0xFF && b[end - 1] == 0xD9) return true;
  }
  return false;
}

// Images larger than this are refused before decoding: a crafted header must not make us
// allocate gigabytes.
constexpr long kMaxPixels = 64L * 1024 * 1024;

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(context);
  const auto* p = static_cast<const std::uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

// stb wants RGB(A) or grey in row-major, tightly packed order.
cv::Mat to_stb_layout(const cv::Mat& image) {
  const cv::Mat bgr8 = image.channels() == 1 && image.depth() == CV_8U ? image : to_bgr8(image);
  cv::Mat out;
  if (bgr8.channels() == 3) {
    cv::cvtColor(bgr8, out, cv::COLOR_BGR2RGB);
  } else {
    out = bgr8.isContinuous() ? bgr8 : bgr8.clone();
  }
  return out;
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
    case 2: {  // grey + alpha
      std::vector<cv::Mat> planes;
      cv::split(img, planes);
      cv::cvtColor(planes[0], out, cv::COLOR_GRAY2BGR);
      break;
    }
    case 3: out = img; break;
    case 4: cv::cvtColor(img, out, cv::COLOR_BGRA2BGR); break;
    default: throw Error("image", "unsupported channel count " + std::to_string(img.channels()));
  }
  return out;
}

cv::Mat decode_image(const std::vector<std::uint8_t>& bytes, const std::string& what) {
  if (bytes.empty()) throw Error("image", what + ": file is empty (0 bytes)");
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw Error("image", what + ": file is too large");
  }
  if (starts_with(bytes, {0xFF, 0xD8, 0xFF}) && !jpeg_is_complete(bytes)) {
    throw Error("image", what + ": JPEG data is truncated (no end-of-image marker)");
  }
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &n)) {
    throw Error("image", what + ": not an image that can be read (" + std::to_string(bytes.size()) +
                             " bytes; supported: JPEG, PNG, BMP, PGM/PPM, TGA, GIF)");
  }
  if (w < 1 || h < 1) throw Error("image", what + ": image has no pixels");
  if (static_cast<long>(w) * h > kMaxPixels) {
    throw Error("image", what + ": " + std::to_string(w) + "x" + std::to_string(h) +
                             " pixels is larger than the limit of " + std::to_string(kMaxPixels));
  }
  const bool deep = stbi_is_16_bit_from_memory(bytes.data(), len);
  cv::Mat raw;
  if (deep) {
    std::unique_ptr<stbi_us, StbFree> px(stbi_load_16_from_memory(bytes.data(), len, &w, &h, &n, 0));
    if (!px) throw Error("image", what + ": cannot be decoded (" + stbi_failure_reason() + ")");
    raw = cv::Mat(h, w, CV_16UC(n), px.get()).clone();
  } else {
    std::unique_ptr<stbi_uc, StbFree> px(stbi_load_from_memory(bytes.data(), len, &w, &h, &n, 0));
    if (!px) throw Error("image", what + ": cannot be decoded (" + stbi_failure_reason() + ")");
    raw = cv::Mat(h, w, CV_8UC(n), px.get()).clone();
  }
  // stb delivers RGB(A); the rest of the library works in OpenCV's BGR.
  if (raw.channels() == 3) cv::cvtColor(raw, raw, cv::COLOR_RGB2BGR);
  if (raw.channels() == 4) cv::cvtColor(raw, raw, cv::COLOR_RGBA2BGRA);
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

std::vector<std::uint8_t> encode_jpeg(const cv::Mat& image, int quality) {
  if (image.empty()) throw Error("image", "cannot encode an empty image");
  const cv::Mat px = to_stb_layout(image);
  std::vector<std::uint8_t> out;
  if (!stbi_write_jpg_to_func(append_bytes, &out, px.cols, px.rows, px.channels(), px.data,
                              std::clamp(quality, 1, 100))) {
    throw Error("image", "JPEG encoding failed");
  }
  return out;
}

std::vector<std::uint8_t> encode_png(const cv::Mat& image) {
  if (image.empty()) throw Error("image", "cannot encode an empty image");
  const cv::Mat px = to_stb_layout(image);
  std::vector<std::uint8_t> out;
  if (!stbi_write_png_to_func(append_bytes, &out, px.cols, px.rows, px.channels(), px.data,
                              static_cast<int>(px.step))) {
    throw Error("image", "PNG encoding failed");
  }
  return out;
}

}  // namespace vlrface
