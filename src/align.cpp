#include "vlrface/align.hpp"

#include <cmath>
#include <opencv2/imgproc.hpp>
#include <string>

#include "vlrface/error.hpp"

namespace vlrface {

static_assert(cv::INTER_LINEAR == 1 && cv::INTER_CUBIC == 2, "align.hpp documents these values");

cv::Matx23d similarity_transform(const Landmarks& src, const Landmarks& dst) {
  // Closed form for 2-D: with centred points, the optimal a = s*cos, b = s*sin satisfy
  // a = sum(x.x') / sum|x|^2 and b = sum(x cross x') / sum|x|^2.
  cv::Point2d ms(0, 0), md(0, 0);
  for (std::size_t i = 0; i < 5; ++i) {
    ms += cv::Point2d(src[i]);
    md += cv::Point2d(dst[i]);
  }
  ms *= 0.2;
  md *= 0.2;
  double dot = 0, cross = 0, norm = 0;
  for (std::size_t i = 0; i < 5; ++i) {
    const cv::Point2d s = cv::Point2d(src[i]) - ms;
    const cv::Point2d d = cv::Point2d(dst[i]) - md;
    dot += s.x * d.x + s.y * d.y;
    cross += s.x * d.y - s.y * d.x;
    norm += s.x * s.x + s.y * s.y;
  }
  if (norm < 1e-9) throw Error("align", "landmarks are degenerate (all at one point)");
  const double a = dot / norm;
  const double b = cross / norm;
  return cv::Matx23d(a, -b, md.x - (a * ms.x - b * ms.y),  //
                     b, a, md.y - (b * ms.x + a * ms.y));
}

float eye_distance(const Landmarks& lm) {
  const cv::Point2f d = lm[1] - lm[0];
  return std::sqrt(d.x * d.x + d.y * d.y);
}

cv::Mat align_face(const cv::Mat& bgr, const Landmarks& landmarks, int size, int interpolation) {
  if (bgr.empty()) throw Error("align", "empty image");
  for (const auto& p : landmarks) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) throw Error("align", "landmark is not finite");
  }
  const float eyes = eye_distance(landmarks);
  if (eyes < kMinEyeDistance) {
    throw Error("align", "face too small to align: eyes " + std::to_string(eyes).substr(0, 4) +
                             " px apart (at least " + std::to_string(int(kMinEyeDistance)) +
                             " needed)");
  }
  Landmarks dst = kArcFaceTemplate;
  const float k = static_cast<float>(size) / kAlignedSize;
  for (auto& p : dst) p *= k;
  const cv::Matx23d m = similarity_transform(landmarks, dst);
  cv::Mat out;
  cv::warpAffine(bgr, out, cv::Mat(m), cv::Size(size, size), interpolation,
                 cv::BORDER_CONSTANT, cv::Scalar::all(0));
  return out;
}

}  // namespace vlrface
