#include "native_frame.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "h264.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface::evaluation {

NativeFrame make_native_frame(const cv::Mat& image, float face_px, int target_px,
                              const NativeFrameOptions& o) {
  if (image.empty() || image.type() != CV_8UC3) {
    throw Error("eval", "native frame: expects a non-empty 8-bit BGR image");
  }
  if (!(face_px > 0) || target_px < 1) {
    throw Error("eval", "native frame: face size " + std::to_string(face_px) + " -> " +
                            std::to_string(target_px) + " px is not a shrink");
  }
  if (o.canvas.width < 1 || o.canvas.height < 1) throw Error("eval", "native frame: empty canvas");
  NativeFrame f;
  f.scale = static_cast<double>(target_px) / face_px;
  const cv::Size size(std::max(1, static_cast<int>(std::lround(image.cols * f.scale))),
                      std::max(1, static_cast<int>(std::lround(image.rows * f.scale))));
  cv::Mat small;
  cv::resize(image, small, size, 0, 0, f.scale < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
  // The exact factor of the resize (rounding of the size), so that mapped points are right.
  f.scale = static_cast<double>(size.width) / image.cols;
  f.frame = cv::Mat(o.canvas, CV_8UC3, cv::Scalar::all(128));
  // Centred; where the image is larger than the canvas, its centre part is kept.
  const int x0 = (o.canvas.width - size.width) / 2;
  const int y0 = (o.canvas.height - size.height) / 2;
  const cv::Rect dst = cv::Rect(x0, y0, size.width, size.height) & cv::Rect({0, 0}, o.canvas);
  small(dst - cv::Point(x0, y0)).copyTo(f.frame(dst));
  f.offset = cv::Point2d(x0, y0);
  if (o.jpeg_quality > 0) {
    f.frame = decode_image(encode_jpeg(f.frame, std::clamp(o.jpeg_quality, 1, 100)),
                           "native frame (JPEG round trip)");
  }
  if (o.h264_crf >= 0) f.frame = h264_round_trip(f.frame, o.h264_crf);
  return f;
}

}  // namespace vlrface::evaluation
