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

std::string adapted_model_name(const std::string& embedder, int resolution) {
  return embedder + "_r" + std::to_string(resolution);
}

std::optional<bool> parse_adapter_choice(const std::string& choice) {
  if (choice == "auto") return std::nullopt;
  if (choice == "on" || choice == "off") return choice == "on";
  throw Error("pipeline", "adapter must be auto, on or off, not '" + choice + "'");
}

Recovery resolve_recovery(const ModelStore& store, const std::string& embedder, int resolution,
                          const std::string& upscaler, std::optional<bool> adapter) {
  Recovery r;
  if (resolution <= 0) return r;
  const bool auto_up = upscaler == "auto";
  if (auto_up || !adapter) {
    const ModelInfo& base = store.manifest(embedder);
    const auto it = base.recovery.find(resolution);
    if (it != base.recovery.end()) {
      r.upscaler = it->second.upscaler;
      r.adapter = it->second.adapter;
    }
    // A recommendation whose model is absent (an older model directory) falls back quietly:
    // bicubic and the base embedder always work.
    if (r.upscaler == "dsr" && !store.has(dsr_model_name(resolution))) r.upscaler = "bicubic";
    if (r.adapter && !store.has(adapted_model_name(embedder, resolution))) r.adapter = false;
  }
  if (!auto_up) r.upscaler = upscaler;
  if (adapter) r.adapter = *adapter;
  if (r.adapter && !store.has(adapted_model_name(embedder, resolution))) {
    throw Error("pipeline", "no adapted embedder for " + std::to_string(resolution) + " px ('" +
                                adapted_model_name(embedder, resolution) + "' is not in " +
                                store.dir().string() + "). " + model_setup_hint());
  }
  return r;
}

struct Pipeline::Impl {
  const ModelStore& store;
  PipelineConfig config;
  std::unique_ptr<Detector> detector;  // created on first process(): aligned input needs none
  bool fallback = false;
  // The base embedder: full-resolution faces, enrolment, and probes without adapter. Loaded
  // when first needed, so a pipeline working through an adapter holds one EdgeFace, not two.
  std::unique_ptr<Embedder> base_embedder;
  // The active resolution's adapted embedder, named by adapted_name while the adapter is on;
  // with config.one_embedder it may be unloaded for the base model and reloaded on next use.
  std::unique_ptr<Embedder> adapted;
  std::string adapted_name;
  std::string model_id;
  std::unique_ptr<Upscaler> upscaler;
  StageTimes times;

  Impl(const ModelStore& s, PipelineConfig c) : store(s), config(std::move(c)) {
    model_id = s.manifest(config.embedder).id;  // checked when the embedder is loaded
  }

  Embedder& base() {
    if (!base_embedder) {
      if (config.one_embedder) adapted.reset();  // before loading: never two in memory
      base_embedder = std::make_unique<Embedder>(store.get(config.embedder), config.embedding);
      // Quantized now; holding the faces would only keep their memory.
      config.embedding.calibration.clear();
    }
    return *base_embedder;
  }

  Embedder& probe() {
    if (adapted_name.empty()) return base();
    if (!adapted) {
      if (config.one_embedder) base_embedder.reset();
      const ModelInfo& info = store.get(adapted_name);
      if (info.base != config.embedder) {
        throw Error("pipeline", info.path.string() + ": adapted model of '" + info.base +
                                    "', not of '" + config.embedder + "'");
      }
      adapted = std::make_unique<Embedder>(info, config.embedding);
    }
    return *adapted;
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
    r.embedding = probe().embed(r.upscaled);
    times.embed_ms += sw.lap_ms();
  }
};

Pipeline::Pipeline(const ModelStore& store, PipelineConfig config)
    : impl_(std::make_unique<Impl>(store, std::move(config))) {
  const int resolution = impl_->config.resolution;
  impl_->config.resolution = -1;  // nothing set up yet: set_resolution must not skip
  set_resolution(resolution, impl_->config.upscaler, impl_->config.adapter);
  // Loading the probe embedder now reports a bad model file at construction, not mid-stream.
  impl_->probe();
}

Pipeline::~Pipeline() = default;

void Pipeline::set_resolution(int resolution, const std::string& upscaler,
                              std::optional<bool> adapter) {
  if (resolution != 0 && (resolution < 4 || resolution >= kAlignedSize)) {
    throw Error("pipeline", "resolution " + std::to_string(resolution) +
                                " out of range (0 for full, or 4..111)");
  }
  Impl& m = *impl_;
  const Recovery r = resolve_recovery(m.store, m.config.embedder, resolution, upscaler, adapter);
  const bool adapter_on = resolution > 0 && r.adapter;
  const bool same = m.config.resolution == resolution && m.config.adapter == adapter_on &&
                    (resolution == 0 || (m.upscaler && m.config.upscaler == r.upscaler));
  if (same) return;
  std::unique_ptr<Upscaler> up;
  if (resolution > 0) up = make_upscaler(r.upscaler, resolution, m.store);
  const std::string name = adapter_on ? adapted_model_name(m.config.embedder, resolution) : "";
  if (name != m.adapted_name) {
    m.adapted.reset();  // before loading the next one: one adapted EdgeFace in memory at a time
    m.adapted_name.clear();
    if (!name.empty()) {
      m.adapted_name = name;
      try {
        m.probe();  // a bad model file is reported now, not at the next face
      } catch (...) {
        m.adapted_name.clear();
        throw;
      }
    }
  }
  m.upscaler = std::move(up);
  m.config.resolution = resolution;
  m.config.upscaler = resolution > 0 ? r.upscaler : upscaler;
  m.config.adapter = adapter_on;
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
  return impl_->base().embed(aligned);
}

const PipelineConfig& Pipeline::config() const {
  return impl_->config;
}
const StageTimes& Pipeline::last_times() const {
  return impl_->times;
}
// The gallery id of the embedding space: adapted models share their base model's.
const std::string& Pipeline::model_id() const {
  return impl_->model_id;
}
std::string Pipeline::detector_name() const {
  return impl_->det().name();
}
bool Pipeline::approximate_alignment() const {
  impl_->det();
  return impl_->fallback;
}

}  // namespace vlrface
