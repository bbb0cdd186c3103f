// vlrface/pipeline.hpp — frame in, one result per face out: detect, align, degrade, upscale, embed.
//
// Usage:
//   vlrface::ModelStore store(vlrface::resolve_model_dir(std::nullopt));
//   vlrface::Pipeline p(store, {.resolution = 16});          // simulate a 16x16 face
//   for (const vlrface::FaceResult& f : p.process(frame)) matcher.match(f.embedding);
// resolution 0 means full resolution: the aligned face goes to the embedder as it is. Otherwise
// the aligned face is shrunk to resolution x resolution (degrade.hpp) and brought back with the
// configured upscaler, as the reference app does to emulate distant faces. With the adapter on,
// such faces are embedded by the working resolution's adapted EdgeFace ("edgeface_xxs_r16"),
// trained into the base model's embedding space, so the same gallery matches at every resolution.
// upscaler "auto" and adapter nullopt take the combination the embedder's manifest recommends
// for the resolution ("recovery", measured on LFW: docs/EVALUATION.md), when its models exist.
// A frame with no face gives an empty vector; a face too small to align is reported with
// status kTooSmall and no embedding.
// Thread safety: one Pipeline per thread (it owns networks).
#pragma once

#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vlrface/degrade.hpp"
#include "vlrface/detect.hpp"
#include "vlrface/embed.hpp"

namespace vlrface {

class ModelStore;

// What brings a face of `resolution` px back for the embedder: the manifest's recommendation
// for "auto"/nullopt, else what was asked. Throws Error naming the missing model when an
// explicit choice has no model; "auto" falls back to bicubic without adapter.
struct Recovery {
  std::string upscaler = "bicubic";
  bool adapter = false;
};
Recovery resolve_recovery(const ModelStore& store, const std::string& embedder, int resolution,
                          const std::string& upscaler, std::optional<bool> adapter);
// "auto" -> nullopt, "on" -> true, "off" -> false; anything else throws Error naming it.
std::optional<bool> parse_adapter_choice(const std::string& choice);
// The adapted embedder's model name for a resolution ("edgeface_xxs_r16").
std::string adapted_model_name(const std::string& embedder, int resolution);

struct PipelineConfig {
  std::string embedder = "edgeface_xxs";
  int resolution = 0;                   // 0: full; else 16, 24 or 32 (any 4..111 works)
  std::string upscaler = "bicubic";     // "bicubic", "dsr" or "auto"
  std::optional<bool> adapter = false;  // nullopt: auto
  DetectorOptions detector;
  DegradeOptions degrade;
  EmbedderOptions embedding;  // precision (and int8 calibration faces) of the embedder
  // At most one EdgeFace in memory: the base model (enrolment, full resolution) and the
  // resolution's adapted one replace each other when the other is needed, at the cost of a
  // load per switch (an EdgeFace-XXS network is ~11 MB resident; a serve enrolment, two
  // switches, took ~50 ms longer on the development VM). For a live server on a memory budget,
  // where the base model is needed only now and then.
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
  cv::Mat aligned;               // 112x112
  cv::Mat lowres;                // resolution x resolution (empty at full resolution)
  cv::Mat upscaled;              // what the embedder saw
  std::vector<float> embedding;  // L2-normalised; empty unless kOk
};

class Pipeline {
 public:
  Pipeline(const ModelStore& store, PipelineConfig config);
  ~Pipeline();

  std::vector<FaceResult> process(const cv::Mat& bgr);
  // The same for faces another detector found in `bgr` (boxes and landmarks in its pixels):
  // align, degrade, upscale and embed each; this pipeline's own detector is not created.
  std::vector<FaceResult> process(const cv::Mat& bgr, const std::vector<Face>& faces);
  // From an already aligned 112x112 face (datasets with landmarks, gallery re-embedding).
  FaceResult process_aligned(const cv::Mat& aligned);
  // Full-resolution embedding of an aligned face, whatever the working resolution (enrolment).
  std::vector<float> embed_full(const cv::Mat& aligned);

  // Changes the working resolution, upscaler and adapter without reloading the other models
  // (only the active resolution's DSR and adapted embedder are kept in memory). Loads nothing
  // when the resolved choice is the current one.
  void set_resolution(int resolution, const std::string& upscaler,
                      std::optional<bool> adapter = false);

  const PipelineConfig& config() const;  // upscaler and adapter as resolved ("auto" replaced)
  const StageTimes& last_times() const;  // of the last call, summed over its faces
  const std::string& model_id() const;
  std::string detector_name() const;
  bool approximate_alignment() const;  // true when the Haar fallback detector is in use

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlrface
