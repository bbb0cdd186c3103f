#include "vlrface/pipeline.hpp"

#include <chrono>

#include "vlrface/align.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/models.hpp"
#include "vlrface/upscale.hpp"

namespace vlrface {
namespace {

class Stopwatch {
 public:
  double lap_ms() {
    const auto now = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - start_).count();
    start_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

struct Pipeline::Impl {
  const ModelStore& store;
  PipelineConfig config;
  std::unique_ptr<Detector> detector;  // created on first process(): aligned input needs none
  bool fallback = false;
  Embedder embedder;
  std::unique_ptr<Upscaler> upscaler;
  StageTimes times;

  Impl(const ModelStore& s, PipelineConfig c)
      : store(s), config(std::move(c)), embedder(s.get(config.embedder), config.embedding) {
    // Quantized now; holding the faces would only keep their memory.
    config.embedding.calibration.clear();
  }

  Detector& det() {
    if (!detector) {
      detector = make_detector(store, config.detector, &fallback);
      config.detector.calibration.clear();
    }
    return *detector;
  }

  void finish(FaceResult& r, Stopwatch& sw) {
    if (config.resolution > 0) {
      r.lowres = degrade(r.aligned, config.resolution, config.degrade);
      times.degrade_ms += sw.lap_ms();
      r.upscaled = upscaler->upscale(r.lowres, kAlignedSize);
      times.upscale_ms += sw.lap_ms();
    } else {
      r.upscaled = r.aligned;
    }
    r.embedding = embedder.embed(r.upscaled);
    times.embed_ms += sw.lap_ms();
  }
};

Pipeline::Pipeline(const ModelStore& store, PipelineConfig config)
    : impl_(std::make_unique<Impl>(store, std::move(config))) {
  set_resolution(impl_->config.resolution, impl_->config.upscaler);
}

Pipeline::~Pipeline() = default;

void Pipeline::set_resolution(int resolution, const std::string& upscaler) {
  if (resolution != 0 && (resolution < 4 || resolution >= kAlignedSize)) {
    throw Error("pipeline", "resolution " + std::to_string(resolution) +
                                " out of range (0 for full, or 4..111)");
  }
  std::unique_ptr<Upscaler> up;
  if (resolution > 0) up = make_upscaler(upscaler, resolution, impl_->store);
  impl_->upscaler = std::move(up);
  impl_->config.resolution = resolution;
  impl_->config.upscaler = upscaler;
}

std::vector<FaceResult> Pipeline::process(const cv::Mat& bgr) {
  Stopwatch sw;
  const std::vector<Face> faces = impl_->det().detect(bgr);
  const double detect_ms = sw.lap_ms();
  std::vector<FaceResult> out = process(bgr, faces);
  impl_->times.detect_ms = detect_ms;
  return out;
}

std::vector<FaceResult> Pipeline::process(const cv::Mat& bgr, const std::vector<Face>& faces) {
  impl_->times = {};
  Stopwatch sw;
  std::vector<FaceResult> out;
  out.reserve(faces.size());
  for (const Face& f : faces) {
    FaceResult r;
    r.face = f;
    try {
      r.aligned = align_face(bgr, f.landmarks);
    } catch (const Error& e) {
      r.status = FaceStatus::kTooSmall;
      r.note = e.what();
      out.push_back(std::move(r));
      continue;
    }
    impl_->times.align_ms += sw.lap_ms();
    impl_->finish(r, sw);
    out.push_back(std::move(r));
  }
  return out;
}

FaceResult Pipeline::process_aligned(const cv::Mat& aligned) {
  if (aligned.empty() || aligned.type() != CV_8UC3) {
    throw Error("pipeline", "aligned face must be a non-empty 8-bit BGR image");
  }
  impl_->times = {};
  Stopwatch sw;
  FaceResult r;
  r.face.box = cv::Rect2f(0, 0, static_cast<float>(aligned.cols), static_cast<float>(aligned.rows));
  r.face.score = 1;
  r.aligned = aligned;
  impl_->finish(r, sw);
  return r;
}

std::vector<float> Pipeline::embed_full(const cv::Mat& aligned) {
  return impl_->embedder.embed(aligned);
}

const PipelineConfig& Pipeline::config() const { return impl_->config; }
const StageTimes& Pipeline::last_times() const { return impl_->times; }
const std::string& Pipeline::model_id() const { return impl_->embedder.model_id(); }
std::string Pipeline::detector_name() const { return impl_->det().name(); }
bool Pipeline::approximate_alignment() const {
  impl_->det();
  return impl_->fallback;
}

}  // namespace vlrface
