// The face path after decoding: any bytes are decoded as an upload is (shrunk to a small side to
// keep runs cheap), then aligned with landmarks taken from the input's last 20 bytes (ignored by
// the decoders: after PNG's IEND, inside JPEG's tolerated tail), degraded and upscaled. With
// $VLRFACE_MODELS set, the prepared models' Pipeline also detects, aligns and embeds the image
// and the fuzzed face. Checks the shapes the path promises and that embeddings are finite unit
// vectors; any failure must be an Error.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "fuzz_util.hpp"
#include "vlrface/align.hpp"
#include "vlrface/degrade.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/models.hpp"
#include "vlrface/pipeline.hpp"
#include "vlrface/upscale.hpp"

namespace {

using vlrface::fuzz::require;

constexpr vlrface::DecodeLimits kLimits{1'000'000, std::size_t{8} << 20};
constexpr int kMaxSide = 160;

// The models' pipeline, once per process; null without $VLRFACE_MODELS.
vlrface::Pipeline* pipeline() {
  static const std::unique_ptr<vlrface::ModelStore> store = [] {
    const char* dir = std::getenv("VLRFACE_MODELS");
    return dir && *dir ? std::make_unique<vlrface::ModelStore>(dir) : nullptr;
  }();
  static const std::unique_ptr<vlrface::Pipeline> p =
      store ? std::make_unique<vlrface::Pipeline>(*store, vlrface::PipelineConfig{}) : nullptr;
  return p.get();
}

vlrface::Landmarks landmarks_from(const std::uint8_t* tail) {
  vlrface::Landmarks lm{};
  for (int i = 0; i < 5; ++i) {
    std::int16_t xy[2];
    std::memcpy(xy, tail + 4 * i, sizeof xy);
    lm[i] = cv::Point2f(xy[0] / 64.0f, xy[1] / 64.0f);  // +-512 px in 1/64 px steps
  }
  return lm;
}

void check_embedding(const vlrface::FaceResult& f) {
  if (f.status != vlrface::FaceStatus::kOk) return;
  require(!f.embedding.empty(), "a face with status ok has no embedding");
  double sq = 0;
  for (float v : f.embedding) {
    require(std::isfinite(v), "embedding holds a non-finite value");
    sq += double{v} * v;
  }
  require(std::abs(std::sqrt(sq) - 1.0) < 1e-3, "embedding is not L2-normalised");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pipeline();  // load the models before the first input, so that load time is not a timeout
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  cv::Mat img;
  try {
    img = vlrface::decode_image(data, size, "fuzz", kMaxSide, nullptr, kLimits);
  } catch (const vlrface::Error&) {
    return 0;
  }
  vlrface::Pipeline* p = pipeline();
  if (p) {
    for (const auto& f : p->process(img)) check_embedding(f);
  }
  if (size < 21) return 0;
  const vlrface::Landmarks lm = landmarks_from(data + size - 20);
  const int side = 4 + data[size - 21] % 109;  // 4..112
  cv::Mat aligned;
  try {
    aligned = vlrface::align_face(img, lm, side, 1 + data[size - 21] % 2);
  } catch (const vlrface::Error&) {
    return 0;  // landmarks too close or degenerate: said so
  }
  require(aligned.rows == side && aligned.cols == side && aligned.type() == CV_8UC3,
          "align_face did not give " + std::to_string(side) + "x" + std::to_string(side) + " BGR");
  if (side > 4) {  // degrade shrinks: 4 .. side-1
    vlrface::DegradeOptions opt;
    opt.jpeg_quality = data[size - 21] >> 1;  // 0 (off) .. 127, clamped by the encoder
    const cv::Mat low = vlrface::degrade(aligned, 4 + data[size - 21] % (side - 4), opt);
    const cv::Mat up = vlrface::BicubicUpscaler().upscale(low, 112);
    require(up.rows == 112 && up.cols == 112 && up.type() == CV_8UC3, "upscale is not 112x112");
  }
  if (p) {
    vlrface::Face face;
    face.landmarks = lm;
    face.box = cv::boundingRect(std::vector<cv::Point2f>(lm.begin(), lm.end()));
    face.score = 1;
    try {
      for (const auto& f : p->process(img, {face})) check_embedding(f);
    } catch (const vlrface::Error&) {
    }
  }
  return 0;
}
