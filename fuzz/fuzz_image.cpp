// Image decoding (src/image_io.cpp), as uploads and the CLI reach it: any bytes, decoded twice
// (full size, and shrunk while decoding as uploads are), under small decode limits so that each
// run stays cheap. Checks what image_io.hpp promises: either an Error naming the problem, or an
// 8-bit BGR image within the limits (the header check must bound what is really decoded), shrunk
// to the asked side; small results survive a PNG round trip unchanged.
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>

#include "fuzz_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace {

using vlrface::fuzz::require;

// 1 Mpx, 8 MiB decoded: a 1024x1024 16-bit RGBA image is just over, so both limits are reachable.
constexpr vlrface::DecodeLimits kLimits{1'000'000, std::size_t{8} << 20};
constexpr int kShrinkTo = 48;

void check_bgr(const cv::Mat& img, const char* how) {
  require(!img.empty(), std::string(how) + ": decoded to an empty image without an Error");
  require(img.type() == CV_8UC3, std::string(how) + ": not 8-bit BGR");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  cv::Mat full;
  try {
    full = vlrface::decode_image(data, size, "fuzz", 0, nullptr, kLimits);
  } catch (const vlrface::Error&) {
    // Refused with a message: what bad input must get.
  }
  if (!full.empty()) {
    check_bgr(full, "full size");
    // EXIF orientation may swap the sides, not change the count.
    require(static_cast<long>(full.total()) <= kLimits.max_pixels,
            "decoded " + std::to_string(full.cols) + "x" + std::to_string(full.rows) +
                ": more pixels than the limit the header was checked against");
    if (full.total() <= 64 * 64) {
      const cv::Mat again = vlrface::decode_image(vlrface::encode_png(full), "round trip");
      require(again.size() == full.size() && cv::norm(again, full, cv::NORM_INF) == 0,
              "a PNG round trip changed the pixels");
    }
  }
  cv::Mat small;
  double scale = 0;
  try {
    small = vlrface::decode_image(data, size, "fuzz", kShrinkTo, &scale, kLimits);
  } catch (const vlrface::Error&) {
  }
  // image_io.cpp: "what is accepted or refused stays stb's decision", whichever decoder ran.
  require(small.empty() == full.empty(), full.empty() ? "refused at full size, accepted shrunk"
                                                      : "accepted at full size, refused shrunk");
  if (!small.empty()) {
    check_bgr(small, "shrunk");
    require(small.cols <= kShrinkTo && small.rows <= kShrinkTo,
            "shrinking to " + std::to_string(kShrinkTo) + " gave " + std::to_string(small.cols) +
                "x" + std::to_string(small.rows));
    require(scale > 0 && scale <= 1, "scale " + std::to_string(scale) + " outside (0, 1]");
  }
  return 0;
}
