// eval/h264.hpp — one frame through an H.264 encoder and decoder, as a camera stream carries it.
//
// Usage:
//   cv::Mat seen = vlrface::evaluation::h264_round_trip(frame, /*crf=*/28);
// The BGR frame is converted to YUV 4:2:0 (a camera stream's colour sampling: a 16 px face keeps
// 8x8 chroma samples), coded by libx264 at the given constant-rate factor (0 lossless .. 51
// worst; ffmpeg's default is 23, IP cameras' "medium quality" streams sit near 28-32) and
// decoded again. Every frame is coded as a keyframe (intra only): for a still face this is the
// hardest case, since a real stream refines a static scene over its P-frames.
// Encoder and decoder are made for each call (about a millisecond at 320x240, small beside
// detection) so the function has no state and is safe to call from several threads at once.
// Throws Error("eval", ...) when libavcodec has no H.264 encoder or decoder, for odd frame sizes
// (4:2:0 needs even ones) and for a CRF outside 0..51.
#pragma once

#include <opencv2/core.hpp>

namespace vlrface::evaluation {

// True when this build can run h264_round_trip (it was built with libavcodec and has libx264).
bool h264_available();

cv::Mat h264_round_trip(const cv::Mat& bgr, int crf);

}  // namespace vlrface::evaluation
