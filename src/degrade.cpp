#include "vlrface/degrade.hpp"

#include <opencv2/imgproc.hpp>
#include <string>

#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface {

cv::Mat degrade(const cv::Mat& aligned, int size, const DegradeOptions& o) {
  if (aligned.empty()) throw Error("degrade", "empty face image");
  if (size < 4 || size > aligned.cols || size > aligned.rows) {
    throw Error("degrade", "target size " + std::to_string(size) + " must be 4.." +
                               std::to_string(std::min(aligned.cols, aligned.rows)));
  }
  cv::Mat src = aligned;
  if (o.blur_sigma > 0) cv::GaussianBlur(aligned, src, cv::Size(0, 0), o.blur_sigma);
  cv::Mat small;
  cv::resize(src, small, cv::Size(size, size), 0, 0, cv::INTER_AREA);
  if (o.noise_sigma > 0) {
    cv::RNG rng(o.seed ? o.seed : 0x9E3779B97F4A7C15ull);
    cv::Mat noise(small.size(), CV_32FC(small.channels()));
    rng.fill(noise, cv::RNG::NORMAL, 0.0, o.noise_sigma);
    cv::Mat f;
    small.convertTo(f, CV_32F);
    f += noise;
    f.convertTo(small, aligned.type());  // saturates to 0..255
  }
  if (o.jpeg_quality > 0) {
    small = decode_image(encode_jpeg(small, o.jpeg_quality), "JPEG round trip");
  }
  return small;
}

}  // namespace vlrface
