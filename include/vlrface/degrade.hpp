// vlrface/degrade.hpp — turning an aligned face into a distant, low-resolution one.
//
// Usage:
//   cv::Mat tiny = vlrface::degrade(aligned112, 16);                      // area shrink only
//   cv::Mat cam  = vlrface::degrade(aligned112, 24, {.blur_sigma = 0.8,   // camera-like
//                                                    .noise_sigma = 3, .jpeg_quality = 60});
// The area shrink is the reference app's emulation of a face far from the camera; blur, noise and
// JPEG simulate a cheap sensor. Deterministic for a given seed.
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

namespace vlrface {

inline const std::vector<int> kWorkingResolutions = {16, 24, 32};

struct DegradeOptions {
  double blur_sigma = 0;    // Gaussian blur on the 112x112 face before shrinking; 0: off
  double noise_sigma = 0;   // Gaussian pixel noise after shrinking (0..255 scale); 0: off
  int jpeg_quality = 0;     // JPEG round trip after shrinking (1..100); 0: off
  std::uint64_t seed = 0;   // for the noise
};

// `size` x `size` face from a square face (normally 112x112), by INTER_AREA.
cv::Mat degrade(const cv::Mat& aligned, int size, const DegradeOptions& options = {});

}  // namespace vlrface
