// vlrface/detect.hpp — finding faces and their 5 landmarks in a frame.
//
// Usage:
//   auto det = vlrface::make_detector(store, {});   // YuNet, or the Haar fallback when absent
//   for (const vlrface::Face& f : det->detect(bgr)) ...   // empty vector: no face (not an error)
// Landmarks are in image order: image-left eye, image-right eye, nose tip, image-left and
// image-right mouth corner — the order of the ArcFace template in align.hpp.
// int8 YuNet: set DetectorOptions::precision and give calibration frames (docs/BENCHMARKS.md,
// "Precision"); the Haar fallback ignores both.
// Thread safety: a Detector holds a network with per-call state; use one per thread.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vlrface/precision.hpp"

namespace vlrface {

class ModelStore;
struct ModelInfo;

struct Face {
  cv::Rect2f box;
  float score = 0;
  std::array<cv::Point2f, 5> landmarks{};
  // True for the Haar fallback: landmarks are guessed from the box, so alignment is approximate.
  bool approximate_landmarks = false;
};

struct DetectorOptions {
  float score_threshold = 0.6f;
  float nms_threshold = 0.3f;
  int top_k = 200;
  // Every frame is enlarged by this factor before detection (within max_input_side). YuNet at
  // 640x480 finds under half of the faces 16 px wide; at 2x it finds nearly all, for 4x the
  // work (docs/EVALUATION.md, native rows).
  double upsample = 1.0;
  // Frames smaller than this (longest side) are enlarged before detection: YuNet's smallest
  // anchors are about 10 px, so small face crops are otherwise missed.
  int min_input_side = 320;
  // Frames larger than this are shrunk; tiny faces are the point, so the default is generous.
  int max_input_side = 1920;
  // Landmark refinement of small faces: a face whose box is narrower than refine_below_px (in
  // the frame's pixels) is detected again in a crop around it, enlarged so that the face is
  // refine_face_px wide in the network's input, and takes the landmarks and box found there.
  // YuNet's landmarks of a face found at 2x are a pixel or two off at 16 px, which costs more
  // accuracy than recovery wins back (docs/EVALUATION.md, "What landmark error costs");
  // defaults chosen on validation (docs/MODELS.md, "Landmark refinement"). 0: off.
  int refine_below_px = 40;
  int refine_face_px = 64;
  std::optional<Precision> precision;  // nullopt: the model's default (its manifest)
  // int8 only: BGR frames like those to be searched, whose activations set the int8 ranges. They
  // are resized and padded as detect() would, then batched at the largest of those sizes.
  std::vector<cv::Mat> calibration;
};

class Detector {
 public:
  virtual ~Detector() = default;
  virtual std::vector<Face> detect(const cv::Mat& bgr) = 0;
  virtual std::string name() const = 0;
};

class YuNetDetector final : public Detector {
 public:
  YuNetDetector(const ModelInfo& model, DetectorOptions options);
  ~YuNetDetector() override;
  std::vector<Face> detect(const cv::Mat& bgr) override;
  // "yunet", or "yunet int8": reports then say which network found the faces.
  std::string name() const override;
  Precision precision() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// OpenCV's frontal-face Haar cascade (Debian opencv-data): boxes only, landmarks approximated.
class HaarDetector final : public Detector {
 public:
  explicit HaarDetector(DetectorOptions options);
  ~HaarDetector() override;
  std::vector<Face> detect(const cv::Mat& bgr) override;
  std::string name() const override { return "haar (approximate alignment)"; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Detects in `image` placed in a frame of `canvas` size: scaled to fit it (and enlarged, as the
// detector would, while its longest side is below `min_side`), then padded with zeros at the
// right and bottom. A detector busy with camera frames of that size then keeps its network's
// buffers instead of reallocating them for the other shape, twice (~20 MB at 640x480 for YuNet).
// Boxes and landmarks are in `image`'s pixels. An empty canvas: `image` as it is.
std::vector<Face> detect_in_canvas(Detector& detector, const cv::Mat& image, cv::Size canvas,
                                   int min_side = 320);

// The mean of a face's five landmarks: where a face is, for matching detections to each other.
cv::Point2f landmark_centre(const Face& face);
// The face whose landmark centre is nearest `at`, if nearer than `within` pixels; else nullptr.
// Points into `faces`.
const Face* nearest_face(const std::vector<Face>& faces, cv::Point2f at, double within);
// YuNet when the store has it, otherwise the Haar fallback. `fallback_used` tells which.
std::unique_ptr<Detector> make_detector(const ModelStore& store, const DetectorOptions& options,
                                        bool* fallback_used = nullptr);
// Why make_detector() would fall back to Haar, naming the missing YuNet manifest and what the
// fallback costs; empty when YuNet is there. For the edges to warn with (the core logs nothing).
std::string detector_fallback_warning(const ModelStore& store);

}  // namespace vlrface
