// Request-side detection and embedding (identify, enrolment from uploads and captures) and the
// decoding of uploads, one request at a time.
//
// Usage:
//   RequestInference inf(engines, {max_side});
//   const cv::Mat img = inf.decode(upload, &scale);           // 413/415 as HttpError
//   inf.with_pipeline(kResolutionAuto, [&](RequestModels& m) { m.process(img); });
//   inf.unload_if_idle();                                       // housekeeping
// While a live engine exists its own networks do the work, between two frames, so requests cost
// no second copy of the models; only without one (a model reload failed) are request-side
// models loaded, on first use, and freed after 30 s idle.
// Thread safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "serve_engine.hpp"
#include "serve_http.hpp"
#include "vlrface/detect.hpp"
#include "vlrface/pipeline.hpp"

namespace vlrface::serve {

// The models a request may use inside RequestInference::with_pipeline (valid only there).
class RequestModels {
 public:
  // `detector` null: the pipeline's own (configured for uploads) detects. `canvas`: the size of
  // the frames `detector` works on (the live view's).
  RequestModels(Pipeline& pipeline, Detector* detector, cv::Size canvas)
      : pipeline_(pipeline), detector_(detector), canvas_(canvas) {}
  // Every face: detected on a copy fitted into `canvas` (so the live detector keeps its buffers:
  // detect_in_canvas), landmarks mapped back to `image`; then aligned, degraded, upscaled and
  // embedded at the working resolution.
  std::vector<FaceResult> process(const cv::Mat& image);
  // Full-resolution embedding of an aligned 112x112 face.
  std::vector<float> embed_full(const cv::Mat& aligned) { return pipeline_.embed_full(aligned); }

 private:
  Pipeline& pipeline_;
  Detector* detector_;
  cv::Size canvas_;
};

class RequestInference {
 public:
  RequestInference(const EngineHolder& engines, ImageLimits limits)
      : engines_(engines), limits_(limits) {}

  const ImageLimits& limits() const { return limits_; }

  void with_pipeline(int resolution, const std::function<void(RequestModels&)>& f);
  // Decodes an upload (413/415 as decode_upload), one at a time, shrunk to at most 1920 px while
  // decoding: a 4096x4096 photo at full size is 50 MB, and nothing needs that many pixels to
  // find a face. `scale` (when given) receives the factor applied (1: none).
  cv::Mat decode(const Upload& upload, double* scale = nullptr);

  // Frees the request-side models when unused for 30 s (never waits for a running request).
  void unload_if_idle();
  // Frees them now (a model reload), waiting for a running request.
  void unload();
  bool loaded() const { return loaded_; }

 private:
  const EngineHolder& engines_;
  ImageLimits limits_;
  std::mutex infer_mu_;
  std::mutex decode_mu_;
  std::unique_ptr<Pipeline> pipeline_;
  std::atomic<bool> loaded_{false};  // pipeline_ != nullptr, readable without infer_mu_
  std::string pipeline_model_;
  double used_ = 0;
};

}  // namespace vlrface::serve
