#include "vlrface/image_io.hpp"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <opencv2/imgproc.hpp>
#include <string>

#include "image_check.hpp"
#include "vlrface/error.hpp"

#if VLRFACE_HAVE_LIBJPEG
#include <jpeglib.h>
#endif

namespace vlrface {
namespace {

// A truncated JPEG decodes into a partly grey image with at most a warning, which would silently
// enrol a damaged face; a complete JPEG ends with the EOI marker (trailing padding is tolerated).
bool jpeg_is_complete(const std::uint8_t* b, std::size_t size) {
  std::size_t end = size;
  for (std::size_t tail = 0; end >= 2 && tail < 64; ++tail, --end) {
    if (b[end - 2] == 0xFF && b[end - 1] == 0xD9) return true;
  }
  return false;
}

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

// The size of a `w` x `h` image scaled by `f`, as cv::resize rounds it.
cv::Size shrunk_size(int w, int h, double f) {
  return {std::max(1, static_cast<int>(std::lround(w * f))),
          std::max(1, static_cast<int>(std::lround(h * f)))};
}

// EXIF orientation (1..8) of a JPEG, 1 when absent or unreadable. Phones store the sensor's
// pixels and say in APP1 how to turn them: ignoring it gives sideways faces that no detector
// finds. Every read is bounds-checked: the bytes come from anyone.
int exif_orientation(const std::uint8_t* b, std::size_t size) {
  if (size < 4 || b[0] != 0xFF || b[1] != 0xD8) return 1;
  std::size_t pos = 2;
  while (pos + 4 <= size && b[pos] == 0xFF) {
    const std::uint8_t marker = b[pos + 1];
    if (marker == 0xD9 || marker == 0xDA) break;  // end of image, start of scan: no EXIF
    const std::size_t len = (std::size_t{b[pos + 2]} << 8) | b[pos + 3];
    if (len < 2 || pos + 2 + len > size) break;
    const std::uint8_t* seg = b + pos + 4;
    const std::size_t n = len - 2;
    if (marker == 0xE1 && n >= 14 && std::memcmp(seg, "Exif\0\0", 6) == 0) {
      const std::uint8_t* t = seg + 6;  // TIFF header
      const std::size_t tn = n - 6;
      const bool le = t[0] == 'I' && t[1] == 'I';
      if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
      const auto u16 = [&](std::size_t o) -> unsigned {
        return le ? t[o] | (t[o + 1] << 8) : (t[o] << 8) | t[o + 1];
      };
      const auto u32 = [&](std::size_t o) -> std::size_t {
        return le ? (std::size_t{t[o]} | std::size_t{t[o + 1]} << 8 | std::size_t{t[o + 2]} << 16 |
                     std::size_t{t[o + 3]} << 24)
                  : (std::size_t{t[o]} << 24 | std::size_t{t[o + 1]} << 16 |
                     std::size_t{t[o + 2]} << 8 | std::size_t{t[o + 3]});
      };
      const std::size_t ifd = u32(4);
      if (ifd + 2 > tn) return 1;
      const unsigned entries = u16(ifd);
      for (unsigned i = 0; i < entries; ++i) {
        const std::size_t e = ifd + 2 + std::size_t{i} * 12;
        if (e + 12 > tn) return 1;
        if (u16(e) == 0x0112) {  // Orientation, SHORT
          const unsigned v = u16(e + 8);
          return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
        }
      }
      return 1;
    }
    pos += 2 + len;
  }
  return 1;
}

// Turns decoded pixels upright as EXIF orientation `o` says.
cv::Mat apply_orientation(cv::Mat img, int o) {
  cv::Mat out;
  switch (o) {
    case 2: cv::flip(img, out, 1); return out;
    case 3: cv::rotate(img, out, cv::ROTATE_180); return out;
    case 4: cv::flip(img, out, 0); return out;
    case 5: cv::transpose(img, out); return out;
    case 6: cv::rotate(img, out, cv::ROTATE_90_CLOCKWISE); return out;
    case 7: cv::transpose(img, out); cv::flip(out, out, -1); return out;
    case 8: cv::rotate(img, out, cv::ROTATE_90_COUNTERCLOCKWISE); return out;
    default: return img;
  }
}

std::string mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

// Before decoding: what the header claims must fit the limits.
void check_limits(const std::string& what, int w, int h, int channels, int depth_bytes,
                  const DecodeLimits& limits) {
  const long pixels = static_cast<long>(w) * h;
  const std::string dims = std::to_string(w) + "x" + std::to_string(h);
  if (pixels > limits.max_pixels) {
    throw Error("image-limit", what + ": " + dims + " is " + std::to_string(pixels) +
                                   " pixels, more than the limit of " +
                                   std::to_string(limits.max_pixels));
  }
  const double bytes = static_cast<double>(pixels) * channels * depth_bytes;
  if (bytes > static_cast<double>(limits.max_bytes)) {
    throw Error("image-limit", what + ": " + dims + " with " + std::to_string(channels) +
                                   " channels of " + std::to_string(8 * depth_bytes) +
                                   " bits decodes to " + mib(bytes) + ", more than the limit of " +
                                   mib(static_cast<double>(limits.max_bytes)));
  }
}

#if VLRFACE_HAVE_LIBJPEG && defined(JCS_EXTENSIONS)
// libjpeg(-turbo) decodes a JPEG at 1/2, 1/4 or 1/8 of its size in the DCT itself, row by row:
// the full-size pixels never exist. Any error or warning (corrupt data) gives up, and the caller
// falls back to stb, so that what is accepted or refused stays stb's decision.
struct JpegErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
};

void on_jpeg_error(j_common_ptr c) {
  std::longjmp(reinterpret_cast<JpegErrors*>(c->err)->jump, 1);
}

void on_jpeg_message(j_common_ptr c, int level) {
  if (level < 0) std::longjmp(reinterpret_cast<JpegErrors*>(c->err)->jump, 1);
}

struct JpegReader {
  jpeg_decompress_struct cinfo{};
  JpegErrors errors{};
  JpegReader() {
    cinfo.err = jpeg_std_error(&errors.mgr);
    errors.mgr.error_exit = on_jpeg_error;
    errors.mgr.emit_message = on_jpeg_message;
  }
  ~JpegReader() { jpeg_destroy_decompress(&cinfo); }  // a no-op when never created
  JpegReader(const JpegReader&) = delete;
  JpegReader& operator=(const JpegReader&) = delete;
};

// The two functions that call into libjpeg hold no C++ object with a destructor, so that
// longjmp out of the library skips nothing.
bool jpeg_begin(JpegReader& r, const std::uint8_t* data, std::size_t size, int max_side) {
  if (setjmp(r.errors.jump)) return false;
  jpeg_create_decompress(&r.cinfo);
  jpeg_mem_src(&r.cinfo, data, static_cast<unsigned long>(size));
  if (jpeg_read_header(&r.cinfo, TRUE) != JPEG_HEADER_OK) return false;
  // M/8 (libjpeg-turbo scales by any M in 1..16): the largest M whose result fits in max_side
  // when that keeps at least 3/4 of max_side (always so for reductions to 1/2 or more), else
  // one step larger, to be shrunk to max_side by the caller.
  const double want = static_cast<double>(max_side) / std::max(r.cinfo.image_width,
                                                               r.cinfo.image_height);
  unsigned m = static_cast<unsigned>(std::floor(8 * want));
  if (m < 6 * want) ++m;
  r.cinfo.scale_num = std::clamp(m, 1u, 8u);
  r.cinfo.scale_denom = 8;
  r.cinfo.out_color_space = JCS_EXT_BGR;  // grey is expanded too; CMYK fails (stb then)
  r.cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_decompress(&r.cinfo);
  return r.cinfo.output_components == 3;
}

bool jpeg_rows(JpegReader& r, std::uint8_t* out, std::size_t step) {
  if (setjmp(r.errors.jump)) return false;
  while (r.cinfo.output_scanline < r.cinfo.output_height) {
    JSAMPROW row = out + static_cast<std::size_t>(r.cinfo.output_scanline) * step;
    if (jpeg_read_scanlines(&r.cinfo, &row, 1) != 1) return false;
  }
  jpeg_finish_decompress(&r.cinfo);
  return true;
}

// BGR at a reduced scale near max_side (see jpeg_begin), or empty when libjpeg cannot.
// `factor` receives the scale.
cv::Mat decode_jpeg_reduced(const std::uint8_t* data, std::size_t size, int max_side,
                            double& factor) {
  JpegReader r;
  if (!jpeg_begin(r, data, size, max_side)) return {};
  factor = static_cast<double>(r.cinfo.scale_num) / r.cinfo.scale_denom;
  cv::Mat out(static_cast<int>(r.cinfo.output_height), static_cast<int>(r.cinfo.output_width),
              CV_8UC3);
  if (!jpeg_rows(r, out.data, out.step)) return {};
  return out;
}
#endif

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
  return decode_image(bytes.data(), bytes.size(), what);
}

cv::Mat decode_image(const std::uint8_t* data, std::size_t size, const std::string& what,
                     int max_side, double* scale, const DecodeLimits& limits) {
  if (scale) *scale = 1;
  if (size == 0) throw Error("image", what + ": file is empty (0 bytes)");
  if (size > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw Error("image", what + ": file is too large");
  }
  const bool jpeg = size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
  if (jpeg && !jpeg_is_complete(data, size)) {
    throw Error("image", what + ": JPEG data is truncated (no end-of-image marker)");
  }
  detail::check_jpeg(data, size, what);
  detail::check_pnm(data, size, what);
  const int len = static_cast<int>(size);
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &n)) {
    throw Error("image", what + ": not an image that can be read (" + std::to_string(size) +
                             " bytes; supported: JPEG, PNG, BMP, PGM/PPM, TGA, GIF)");
  }
  if (w < 1 || h < 1) throw Error("image", what + ": image has no pixels");
  const bool deep = stbi_is_16_bit_from_memory(data, len);
  check_limits(what, w, h, n, deep ? 2 : 1, limits);
  detail::check_png(data, size, what);
  const bool shrink = max_side > 0 && std::max(w, h) > max_side;
  const double f = shrink ? static_cast<double>(max_side) / std::max(w, h) : 1.0;
  const cv::Size target = shrunk_size(w, h, f);
  // Into `raw` straight from the decoder's buffer, shrunk where asked; the buffer goes at once.
  const auto take = [&](const cv::Mat& decoded, cv::Mat& raw) {
    if (shrink) {
      cv::resize(decoded, raw, target, 0, 0, cv::INTER_AREA);
    } else if (decoded.depth() == CV_16U) {
      decoded.convertTo(raw, CV_8U, 1.0 / 257.0);  // half the decoder's buffer, not a copy
    } else {
      raw = decoded.clone();
    }
  };
#if VLRFACE_HAVE_LIBJPEG && defined(JCS_EXTENSIONS)
  if (shrink && jpeg) {
    double g = 1;
    cv::Mat reduced = decode_jpeg_reduced(data, size, max_side, g);
    if (!reduced.empty()) {
      if (std::max(reduced.cols, reduced.rows) > max_side) {
        cv::Mat out;
        cv::resize(reduced, out, target, 0, 0, cv::INTER_AREA);
        reduced = out;
        g = f;
      }
      if (scale) *scale = g;
      return apply_orientation(reduced, exif_orientation(data, size));
    }
  }
#endif
  cv::Mat raw;
  if (deep) {
    std::unique_ptr<stbi_us, StbFree> px(stbi_load_16_from_memory(data, len, &w, &h, &n, 0));
    if (!px) throw Error("image", what + ": cannot be decoded (" + stbi_failure_reason() + ")");
    take(cv::Mat(h, w, CV_16UC(n), px.get()), raw);
  } else {
    std::unique_ptr<stbi_uc, StbFree> px(stbi_load_from_memory(data, len, &w, &h, &n, 0));
    if (!px) throw Error("image", what + ": cannot be decoded (" + stbi_failure_reason() + ")");
    take(cv::Mat(h, w, CV_8UC(n), px.get()), raw);
  }
  // stb delivers RGB(A); the rest of the library works in OpenCV's BGR.
  if (raw.channels() == 3) cv::cvtColor(raw, raw, cv::COLOR_RGB2BGR);
  if (raw.channels() == 4) cv::cvtColor(raw, raw, cv::COLOR_RGBA2BGRA);
  if (scale) *scale = f;
  return apply_orientation(to_bgr8(raw), jpeg ? exif_orientation(data, size) : 1);
}

cv::Mat load_image(const std::filesystem::path& file, const DecodeLimits& limits) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) throw Error("image", file.string() + ": no such file");
  if (std::filesystem::is_directory(file, ec)) {
    throw Error("image", file.string() + ": is a directory, not an image");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("image", file.string() + ": cannot be opened for reading");
  // Read in blocks up to the limit: the size a regular file states is not to be trusted for
  // devices and pipes, which may never end.
  std::vector<std::uint8_t> bytes;
  constexpr std::size_t kBlock = std::size_t{1} << 20;
  while (in) {
    if (bytes.size() > limits.max_file_bytes) {
      throw Error("image-limit", file.string() + ": more than the limit of " +
                                     mib(static_cast<double>(limits.max_file_bytes)) + " to read");
    }
    const std::size_t at = bytes.size();
    bytes.resize(at + kBlock);
    in.read(reinterpret_cast<char*>(bytes.data() + at), static_cast<std::streamsize>(kBlock));
    bytes.resize(at + static_cast<std::size_t>(in.gcount()));
  }
  if (bytes.size() > limits.max_file_bytes) {
    throw Error("image-limit", file.string() + ": " + mib(static_cast<double>(bytes.size())) +
                                   ", more than the limit of " +
                                   mib(static_cast<double>(limits.max_file_bytes)));
  }
  return decode_image(bytes.data(), bytes.size(), file.string(), 0, nullptr, limits);
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
