#include "serve_inference.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include "vlrface/detect.hpp"

namespace vlrface::serve {
namespace {

// Request-side models (a second detector and embedder, ~20 MB, loaded only while no live engine
// exists) are worth their memory only while someone uses them.
constexpr double kPipelineIdleSeconds = 30;
// Uploads are detected at most this large when no live frame gives the size (landmarks map back
// to the full image for alignment): the detector's activations grow with the area.
constexpr int kRequestDetectSide = 640;
// Uploads are kept at most this large once decoded (alignment still sees 100+ px faces).
constexpr int kRequestImageSide = 1920;

}  // namespace

std::vector<FaceResult> RequestModels::process(const cv::Mat& image) {
  if (!detector_) return pipeline_.process(image);
  return pipeline_.process(image, detect_in_canvas(*detector_, image, canvas_));
}

void RequestInference::with_pipeline(int resolution, const std::function<void(RequestModels&)>& f) {
  std::lock_guard lock(infer_mu_);
  if (const auto eng = engines_.engine()) {
    const live::LiveSettings st = eng->settings();
    // The live frames' size, so that the live detector keeps its buffers; before the first
    // frame, the size a camera most often gives.
    cv::Size canvas = eng->snapshot()->frame.size();
    if (canvas.empty()) canvas = cv::Size(kRequestDetectSide, kRequestDetectSide * 3 / 4);
    eng->with_models([&](Pipeline& p, Detector& d) {
      // Put back by with_models; loads nothing when the live view works at this resolution.
      p.set_resolution(resolution, st.upscaler, parse_adapter_choice(st.adapter));
      RequestModels m(p, &d, canvas);
      f(m);
    });
    malloc_trim(0);  // the request's freed images and buffers go back to the system
    return;
  }
  // No engine (a failed model reload): models of our own, freed again when idle.
  const std::string model = engines_.embedder();
  const live::LiveSettings saved = engines_.saved_settings();
  if (!pipeline_ || pipeline_model_ != model) {
    pipeline_.reset();
    loaded_ = false;
    PipelineConfig config;
    config.embedder = model;
    config.resolution = resolution;
    config.detector.max_input_side = kRequestDetectSide;
    pipeline_ = std::make_unique<Pipeline>(engines_.store(), config);
    loaded_ = true;
    pipeline_model_ = model;
  }
  pipeline_->set_resolution(resolution, saved.upscaler, parse_adapter_choice(saved.adapter));
  RequestModels m(*pipeline_, nullptr, {});
  f(m);
  used_ = now_seconds();
}

cv::Mat RequestInference::decode(const Upload& upload, double* scale) {
  std::lock_guard lock(decode_mu_);
  // Shrunk while decoding: a 3000x3000 photo never exists at full size in memory.
  return decode_upload(upload, limits_, kRequestImageSide, scale);
}

void RequestInference::unload_if_idle() {
  std::unique_lock lock(infer_mu_, std::try_to_lock);
  if (lock && pipeline_ && now_seconds() - used_ > kPipelineIdleSeconds) {
    pipeline_.reset();
    loaded_ = false;
    malloc_trim(0);  // give the freed model memory back to the system, not to the heap
    spdlog::info("serve: request-side models unloaded after {} s idle", kPipelineIdleSeconds);
  }
}

void RequestInference::unload() {
  std::lock_guard lock(infer_mu_);
  pipeline_.reset();
  loaded_ = false;
}

}  // namespace vlrface::serve
