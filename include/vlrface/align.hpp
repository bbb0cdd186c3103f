// vlrface/align.hpp — 5-point similarity alignment to the ArcFace 112x112 template.
//
// Usage:
//   cv::Mat face = vlrface::align_face(frame, detected.landmarks);   // 112x112 BGR
// Landmark order: image-left eye, image-right eye, nose tip, image-left and image-right mouth
// corner (detect.hpp's order). Throws Error("align", ...) when the landmarks are too close
// together to define a face (a face too small to align) or degenerate.
// Thread safety: pure functions.
#pragma once

#include <array>

#include <opencv2/core.hpp>

namespace vlrface {

using Landmarks = std::array<cv::Point2f, 5>;

inline constexpr int kAlignedSize = 112;
// The standard ArcFace template for 112x112 faces.
inline const Landmarks kArcFaceTemplate = {cv::Point2f(38.2946f, 51.6963f),
                                           cv::Point2f(73.5318f, 51.5014f),
                                           cv::Point2f(56.0252f, 71.7366f),
                                           cv::Point2f(41.5493f, 92.3655f),
                                           cv::Point2f(70.7299f, 92.2041f)};

// Eye distance, in source pixels, below which no useful face can be aligned.
inline constexpr float kMinEyeDistance = 3.0f;

// The least-squares similarity transform (rotation, uniform scale, translation; Umeyama 1991)
// taking `src` onto `dst`, as a 2x3 matrix.
cv::Matx23d similarity_transform(const Landmarks& src, const Landmarks& dst);

// Distance between the two eyes.
float eye_distance(const Landmarks& lm);

// Warps the face to `size` x `size` (the template is scaled for sizes other than 112), with
// OpenCV's `interpolation` (cv::INTER_LINEAR = 1, cv::INTER_CUBIC = 2).
cv::Mat align_face(const cv::Mat& bgr, const Landmarks& landmarks, int size = kAlignedSize,
                   int interpolation = 1);

}  // namespace vlrface
