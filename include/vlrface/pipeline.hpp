// vlrface/pipeline.hpp — the one face path: frame in, one result per face out.
//
// Usage:
//   vlrface::ModelStore store(vlrface::resolve_model_dir(std::nullopt));
//   vlrface::Pipeline p(store, {});                       // resolution auto: each face's own size
//   for (const vlrface::FaceResult& f : p.process(frame)) {
//     vlrface::MatchResult m = vlrface::decide(f, matcher);   // name or unknown
//   }
// Every command, the live engine, the server and the evaluation call this class; nothing else
// detects, aligns or recovers a face.
//
// Resolution, per face:
//  * kResolutionAuto (the default): the face's native size is measured from its landmarks (the
//    width its aligned 112 px crop covers in the frame). Faces at or above the embedder's
//    measured cut-off go to the base EdgeFace as they are; smaller ones are aligned at their
//    own size, brought to 112 px by the upscaler and embedded by the adapted EdgeFace for that
//    size (the low-resolution student), as the manifest's "recovery" recommends.
//  * kResolutionFull (0): every face aligned to 112 px and embedded by the base model.
//  * N > 0 (simulate): the face aligned at 112 px is shrunk to N x N (degrade.hpp), the
//    reference app's emulation of a distant face, then recovered as a native N px face would be.
// Each result says what ran (native_px, working_px, recovery) and carries the threshold
// calibrated for that recovery path and size; decide() applies the one decision rule:
// same person iff similarity > threshold (a score equal to it is rejected).
// A frame with no face gives an empty vector; a face too small to align is reported with
// status kTooSmall and no embedding.
// Thread safety: one Pipeline per thread (it owns networks).
#pragma once

#include <cstddef>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vlrface/degrade.hpp"
#include "vlrface/detect.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/match.hpp"

namespace vlrface {

class ModelStore;

inline constexpr int kResolutionAuto = -1;
inline constexpr int kResolutionFull = 0;

// The upscaler and adapter that bring a face of `px` back for the embedder: the manifest's
// recommendation for "auto"/nullopt, else what was asked. Throws Error naming the missing model
// when an explicit choice has no model; "auto" falls back to bicubic without adapter. `native`:
// for a camera's face of that size (auto mode), else for a simulated one (simulate mode).
struct Recovery {
  std::string upscaler = "bicubic";
  bool adapter = false;
  std::string label() const { return upscaler + (adapter ? "+adapter" : ""); }
};
Recovery resolve_recovery(const ModelStore& store, const std::string& embedder, int px,
                          const std::string& upscaler, std::optional<bool> adapter,
                          bool native = true);
// The threshold a face of `px` is judged with under these settings (resolution as in
// PipelineConfig; simulate: the simulated size counts), without loading anything.
float threshold_for(const ModelStore& store, const std::string& embedder, int resolution,
                    const std::string& upscaler, std::optional<bool> adapter, int px);
// "auto" -> nullopt, "on" -> true, "off" -> false; anything else throws Error naming it.
std::optional<bool> parse_adapter_choice(const std::string& choice);
// "auto" -> kResolutionAuto, "full" or "112" -> kResolutionFull, "16" -> 16 (4..111); throws
// Error("pipeline", ...) otherwise.
int parse_resolution(const std::string& text);
std::string resolution_name(int resolution);  // the inverse: "auto", "full", "16"

// The native size of a face: the side, in source pixels, of the region its aligned 112 px crop
// covers (112 / the scale of the landmark-to-template similarity). A "16 px face" means the
// same here as in simulate mode.
float native_size(const std::array<cv::Point2f, 5>& landmarks);

struct PipelineConfig {
  std::string embedder = "edgeface_xxs";
  int resolution = kResolutionAuto;     // kResolutionAuto, kResolutionFull or 4..111 (simulate)
  std::string upscaler = "auto";        // "auto", "bicubic" or "dsr"
  std::optional<bool> adapter;          // nullopt: auto (the manifest's recommendation)
  DetectorOptions detector;
  DegradeOptions degrade;
  EmbedderOptions embedding;  // precision (and int8 calibration faces) of the embedder
  // At most one EdgeFace in memory: the base model and the adapted one replace each other when
  // the other is needed, at the cost of a load per switch (an EdgeFace-XXS network is ~11 MB
  // resident; a swap costs ~25 ms on the development VM). For a live server in simulate mode,
  // where the base model is needed only for enrolment. Auto mode with faces of both kinds in
  // view would swap every face: leave it off there.
  bool one_embedder = false;
};

struct StageTimes {
  double detect_ms = 0, align_ms = 0, degrade_ms = 0, upscale_ms = 0, embed_ms = 0;
};

enum class FaceStatus { kOk, kTooSmall };

struct FaceResult {
  Face face;
  FaceStatus status = FaceStatus::kOk;
  std::string note;              // why, when not kOk
  float native_px = 0;           // measured from the landmarks (aligned input: 112)
  int working_px = 0;            // the size recovery started from; 0: none (full resolution)
  std::string recovery = "base"; // "base", or the upscaler, "+adapter" when the student embedded
  float threshold = 0;           // calibrated for this recovery and size (same iff > it)
  cv::Mat aligned;               // 112x112 (auto mode, small face: the native crop, upscaled)
  cv::Mat lowres;                // working_px x working_px (empty at full resolution)
  cv::Mat upscaled;              // what the embedder saw
  std::vector<float> embedding;  // L2-normalised; empty unless kOk
};

// The decision for one face against the gallery: the face's own threshold unless `threshold`
// (>= -1) overrides it. An empty result (no name) for faces that are not kOk.
MatchResult decide(const FaceResult& face, const Matcher& matcher, int top_k = 5,
                   std::optional<float> threshold = std::nullopt);

// The face with the largest box (the subject of a verification or an enrolment photo); nullptr
// when there is none.
const FaceResult* largest_face(const std::vector<FaceResult>& faces);

class Pipeline {
 public:
  Pipeline(const ModelStore& store, PipelineConfig config);
  ~Pipeline();

  std::vector<FaceResult> process(const cv::Mat& bgr);
  // The same for faces another detector found in `bgr` (boxes and landmarks in its pixels);
  // this pipeline's own detector is not created.
  std::vector<FaceResult> process(const cv::Mat& bgr, const std::vector<Face>& faces);
  // From an already aligned 112x112 face (gallery re-embedding, aligned datasets): full
  // resolution, or shrunk to the simulated size. Auto mode treats it as a 112 px face.
  FaceResult process_aligned(const cv::Mat& aligned);
  // Full-resolution embedding of an aligned face, whatever the working resolution (enrolment).
  std::vector<float> embed_full(const cv::Mat& aligned);
  // The embedding an aligned full-resolution face gets as a face of `px` (4..111) on this
  // pipeline's path for such faces: shrunk as simulate mode shrinks it (degrade.hpp), brought
  // back by the upscaler and embedded by the model recovery_for(px) names, as a camera's face
  // of that size would be (auto mode: the manifest's native recovery). A gallery face's
  // resolution-matched template for small probes (docs/EVALUATION.md, "Resolution-matched
  // templates"). Loads the adapter that size needs, like process() would.
  std::vector<float> embed_small(const cv::Mat& aligned, int px);

  // Changes the resolution mode, upscaler and adapter without reloading the other models.
  // Loads nothing when the resolved choice is the current one.
  void set_resolution(int resolution, const std::string& upscaler,
                      std::optional<bool> adapter = std::nullopt);

  const PipelineConfig& config() const;  // resolution, upscaler and adapter as asked
  // What recovers a face of `px` on the current settings (simulate: the simulated size).
  Recovery recovery_for(int px) const;
  const StageTimes& last_times() const;  // of the last call, summed over its faces
  // How many EdgeFace networks (base or adapted) this pipeline has loaded so far. Auto mode
  // keeps one adapted network beside the base one; process() takes a frame's faces grouped by
  // the network they need, the loaded one first, so faces served by two adapters cost one load
  // per frame, not one per face.
  std::size_t embedder_loads() const;
  const std::string& model_id() const;
  // The threshold the pipeline applies to faces of `px` on its current settings (simulate: the
  // simulated size; auto: that size's path; full: the base threshold).
  float threshold_for(int px) const;
  // Faces at or above this native size take the base path in auto mode (0: never recovered).
  int cutoff_px() const;
  Detector& detector();
  std::string detector_name() const;
  bool approximate_alignment() const;  // true when the Haar fallback detector is in use

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlrface
