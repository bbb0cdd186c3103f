// eval/native_frame.hpp — a dataset image turned into the camera frame of a distant face.
//
// Usage:
//   vlrface::evaluation::NativeFrame f = vlrface::evaluation::make_native_frame(
//       image, /*face_px=*/80.f, /*target_px=*/16, {.canvas = {640, 480}, .jpeg_quality = 75});
//   detector.detect(f.frame) ... f.map(landmark)   // where a point of `image` is in the frame
// The whole image is shrunk (area resampling, as a sensor integrates light) so that its face,
// `face_px` wide now (Pipeline's native size), is `target_px` wide, and placed at the centre of
// a mid-grey canvas of a camera's size; the canvas is then optionally coded as a JPEG snapshot
// or an H.264 stream would code it. The face then reaches the detector, aligner and recovery
// exactly as a small face in a camera frame does.
// Thread safety: pure function. Throws as h264_round_trip does when h264_crf is set.
#pragma once

#include <opencv2/core.hpp>

namespace vlrface::evaluation {

struct NativeFrameOptions {
  cv::Size canvas{640, 480};  // the camera frame; an image larger than it is cropped centrally
  int jpeg_quality = 0;       // 1..100: the frame goes through a JPEG round trip; 0: none
  int h264_crf = -1;          // 0..51: then an H.264 round trip (eval/h264.hpp); -1: none
};

struct NativeFrame {
  cv::Mat frame;       // canvas-sized BGR
  double scale = 1;    // image pixels -> frame pixels
  cv::Point2d offset;  // frame position of the image's (0, 0)
  cv::Point2f map(cv::Point2f p) const {
    return {static_cast<float>(p.x * scale + offset.x), static_cast<float>(p.y * scale + offset.y)};
  }
};

// Throws Error("eval", ...) for an empty image, face_px <= 0 or target_px < 1.
NativeFrame make_native_frame(const cv::Mat& image, float face_px, int target_px,
                              const NativeFrameOptions& options = {});

}  // namespace vlrface::evaluation
