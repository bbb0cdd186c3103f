#include "vlrface/pipeline.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <map>
#include <utility>

#include <opencv2/imgproc.hpp>

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

// Below this the similarity transform is not defined well enough to align (align.hpp's
// kMinEyeDistance, as a native size).
const float kTemplateEyeDistance = eye_distance(kArcFaceTemplate);

bool simulating(int resolution) { return resolution > 0; }

}  // namespace

float native_size(const std::array<cv::Point2f, 5>& landmarks) {
  // The similarity taking the template onto the landmarks scales by the face's size in the
  // source; a 112 px crop of the template covers 112 times that.
  const cv::Matx23d m = similarity_transform(kArcFaceTemplate, landmarks);
  return static_cast<float>(kAlignedSize * std::hypot(m(0, 0), m(1, 0)));
}

std::optional<bool> parse_adapter_choice(const std::string& choice) {
  if (choice == "auto") return std::nullopt;
  if (choice == "on" || choice == "off") return choice == "on";
  throw Error("pipeline", "adapter must be auto, on or off, not '" + choice + "'");
}

int parse_resolution(const std::string& text) {
  if (text == "auto") return kResolutionAuto;
  if (text == "full" || text == "112") return kResolutionFull;
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 4 || v >= kAlignedSize) {
    throw Error("pipeline", "resolution '" + text +
                                "' is not auto, full (112) or a size from 4 to 111 (e.g. 16)");
  }
  return v;
}

std::string resolution_name(int resolution) {
  if (resolution == kResolutionAuto) return "auto";
  if (resolution == kResolutionFull) return "full";
  return std::to_string(resolution);
}

Recovery resolve_recovery(const ModelStore& store, const std::string& embedder, int px,
                          const std::string& upscaler, std::optional<bool> adapter, bool native) {
  Recovery r;
  const bool auto_up = upscaler == "auto";
  if (!auto_up && upscaler != "bicubic" && upscaler != "dsr") {
    throw Error("pipeline", "upscaler must be auto, bicubic or dsr, not '" + upscaler + "'");
  }
  if (auto_up || !adapter) {
    if (const auto* d = store.manifest(embedder).recovery_for(px, native)) {
      r.upscaler = d->upscaler;
      r.adapter = d->adapter;
    }
    // A recommendation whose model is absent (an older model directory) falls back quietly:
    // bicubic and the base embedder always work.
    if (r.upscaler == "dsr" && store.upscaler_for(px).empty()) r.upscaler = "bicubic";
    if (r.adapter && store.adapter_for(embedder, px).empty()) r.adapter = false;
  }
  if (!auto_up) r.upscaler = upscaler;
  if (adapter) r.adapter = *adapter;
  if (r.upscaler == "dsr" && store.upscaler_for(px).empty()) {
    throw Error("pipeline", "no DSR model in " + store.dir().string() + ". " + model_setup_hint());
  }
  if (r.adapter && store.adapter_for(embedder, px).empty()) {
    throw Error("pipeline", "no adapted embedder of '" + embedder + "' for " + std::to_string(px) +
                                " px faces in " + store.dir().string() + ". " +
                                model_setup_hint());
  }
  return r;
}

float threshold_for(const ModelStore& store, const std::string& embedder, int resolution,
                    const std::string& upscaler, std::optional<bool> adapter, int px) {
  const ModelInfo& info = store.manifest(embedder);
  if (simulating(resolution)) px = resolution;
  const bool recovered = simulating(resolution) || (resolution == kResolutionAuto &&
                                                    info.cutoff_px > 0 && px < info.cutoff_px);
  if (!recovered) return static_cast<float>(info.threshold);
  const bool native = !simulating(resolution);
  const Recovery r = resolve_recovery(store, embedder, px, upscaler, adapter, native);
  return static_cast<float>(info.threshold_for(px, r.label(), native));
}

const FaceResult* largest_face(const std::vector<FaceResult>& faces) {
  const FaceResult* best = nullptr;
  for (const auto& f : faces) {
    if (!best || f.face.box.area() > best->face.box.area()) best = &f;
  }
  return best;
}

MatchResult decide(const FaceResult& face, const Matcher& matcher, int top_k,
                   std::optional<float> threshold) {
  if (face.status != FaceStatus::kOk || face.embedding.empty()) return {};
  return matcher.match(face.embedding, {top_k, threshold.value_or(face.threshold)});
}

struct Pipeline::Impl {
  const ModelStore& store;
  PipelineConfig config;
  const ModelInfo& info;  // the base embedder's manifest: thresholds, recovery, cut-off
  std::size_t loads = 0;  // EdgeFace networks loaded (embedder_loads())
  // What set_resolution was last asked, to skip work when asked again.
  struct Asked {
    int resolution = -2;
    std::string upscaler;
    std::optional<bool> adapter;
    bool operator==(const Asked&) const = default;
  } asked;
  std::unique_ptr<Detector> detector;  // created on first process(): aligned input needs none
  bool fallback = false;
  // The base embedder: full-resolution faces, enrolment, probes without adapter; loaded when
  // first needed, so a pipeline working through an adapter holds one EdgeFace, not two.
  std::unique_ptr<Embedder> base_embedder;
  std::unique_ptr<Embedder> adapted;  // the adapted embedder named adapted_name
  std::string adapted_name;
  std::map<std::string, std::unique_ptr<Upscaler>> upscalers;  // "bicubic" or a DSR model
  std::string model_id;
  StageTimes times;

  Impl(const ModelStore& s, PipelineConfig c)
      : store(s), config(std::move(c)), info(s.manifest(config.embedder)) {
    model_id = info.id;  // checked when the embedder is loaded
  }

  bool swap_embedders() const { return config.one_embedder && config.resolution != kResolutionAuto; }

  Embedder& base() {
    if (!base_embedder) {
      if (swap_embedders()) adapted.reset();  // before loading: never two in memory
      base_embedder = std::make_unique<Embedder>(store.get(config.embedder), config.embedding);
      ++loads;
      // Quantized now; holding the faces would only keep their memory.
      config.embedding.calibration.clear();
    }
    return *base_embedder;
  }

  Embedder& adapted_embedder(const std::string& name) {
    if (adapted && adapted_name == name) return *adapted;
    adapted.reset();  // one adapted EdgeFace in memory at a time
    adapted_name.clear();
    if (swap_embedders()) base_embedder.reset();
    const ModelInfo& m = store.get(name);
    if (m.base != config.embedder) {
      throw Error("pipeline", m.path.string() + ": adapted model of '" + m.base + "', not of '" +
                                  config.embedder + "'");
    }
    adapted = std::make_unique<Embedder>(m, config.embedding);
    adapted_name = name;
    ++loads;
    return *adapted;
  }

  Upscaler& upscaler(const std::string& kind, int px) {
    const std::string key = kind == "dsr" ? store.upscaler_for(px) : kind;
    auto& u = upscalers[key];
    if (!u) u = make_upscaler(kind, px, store);
    return *u;
  }

  Detector& det() {
    if (!detector) {
      detector = make_detector(store, config.detector, &fallback);
      config.detector.calibration.clear();
    }
    return *detector;
  }

  // The adapted network a detected face will need ("" for the base one), from its landmarks
  // alone: what process_face will decide, without aligning anything.
  std::string adapter_needed(const Face& f) const {
    const int mode = config.resolution;
    int px = 0;
    if (simulating(mode)) {
      px = mode;
    } else if (mode == kResolutionAuto && info.cutoff_px > 0) {
      const float native = native_size(f.landmarks);
      if (!(native < info.cutoff_px)) return {};
      px = std::clamp(static_cast<int>(std::lround(native)), 4, kAlignedSize - 1);
    } else {
      return {};
    }
    try {
      return recovery_for(px).adapter ? store.adapter_for(config.embedder, px) : std::string();
    } catch (const Error&) {
      return {};  // process_face reports it, for this face, as it always has
    }
  }

  // For the mode asked (set before anything is resolved: set_resolution).
  Recovery recovery_for(int px) const {
    return resolve_recovery(store, config.embedder, px, asked.upscaler, asked.adapter,
                            !simulating(asked.resolution));
  }

  // Embeds an aligned 112 px face with the base model.
  void full(FaceResult& r, Stopwatch& sw) {
    r.working_px = 0;
    r.recovery = "base";
    r.upscaled = r.aligned;
    r.embedding = base().embed(r.upscaled);
    r.threshold = static_cast<float>(info.threshold);
    times.embed_ms += sw.lap_ms();
  }

  // Brings r.lowres (px x px) to 112 px and embeds it as the recovery for px says.
  // `direct`: the 112 px face warped bicubically straight from the frame, used in place of
  // the bicubic upscale of r.lowres (see process_face).
  // `native`: a camera's face aligned at its own size (its thresholds), not a simulated one.
  void recover(FaceResult& r, int px, bool native, Stopwatch& sw, const cv::Mat& direct = {}) {
    const Recovery rc = recovery_for(px);
    r.working_px = px;
    r.recovery = rc.label();
    if (rc.upscaler == "bicubic" && !direct.empty()) {
      r.upscaled = direct;
    } else {
      r.upscaled = upscaler(rc.upscaler, px).upscale(r.lowres, kAlignedSize);
    }
    times.upscale_ms += sw.lap_ms();
    Embedder& e = rc.adapter ? adapted_embedder(store.adapter_for(config.embedder, px)) : base();
    r.embedding = e.embed(r.upscaled);
    r.threshold = static_cast<float>(info.threshold_for(px, r.recovery, native));
    times.embed_ms += sw.lap_ms();
  }

  void process_face(const cv::Mat& bgr, FaceResult& r, Stopwatch& sw) {
    r.native_px = native_size(r.face.landmarks);
    r.aligned = align_face(bgr, r.face.landmarks);  // throws Error("align") when too small
    const int mode = config.resolution;
    const int cutoff = info.cutoff_px;
    if (simulating(mode)) {
      times.align_ms += sw.lap_ms();
      r.lowres = degrade(r.aligned, mode, config.degrade);
      times.degrade_ms += sw.lap_ms();
      recover(r, mode, /*native=*/false, sw);
    } else if (mode == kResolutionAuto && cutoff > 0 && r.native_px < cutoff) {
      // Aligned at its own size, straight from the frame: the student was trained on faces
      // shrunk to such a size and brought back by the upscaler, not on a blurred 112 px warp.
      const int px = std::clamp(static_cast<int>(std::lround(r.native_px)), 4, kAlignedSize - 1);
      r.lowres = align_face(bgr, r.face.landmarks, px);
      // A bicubic recovery warps the frame straight to 112 px with bicubic interpolation:
      // resampling the face onto its own px grid first and then upscaling blurs it twice. On
      // the validation set's native faces this raised HR-LR accuracy of bicubic (+adapter)
      // by 1.1 (0.4) points at 16 px and 0.8 (0.6) at 24 px (docs/MODELS.md).
      cv::Mat direct;
      if (recovery_for(px).upscaler == "bicubic") {
        direct = align_face(bgr, r.face.landmarks, kAlignedSize, cv::INTER_CUBIC);
      }
      times.align_ms += sw.lap_ms();
      recover(r, px, /*native=*/true, sw, direct);
    } else {
      times.align_ms += sw.lap_ms();
      full(r, sw);
    }
  }
};

Pipeline::Pipeline(const ModelStore& store, PipelineConfig config)
    : impl_(std::make_unique<Impl>(store, std::move(config))) {
  const PipelineConfig& c = impl_->config;
  set_resolution(c.resolution, c.upscaler, c.adapter);
  // Loading an embedder now reports a bad model file at construction, not mid-stream. Auto mode
  // needs the base model whatever the small faces' adapter (faces above the cut-off, enrolment),
  // so it is loaded (and checked) now even when the manifest gives the smallest sizes an adapter.
  if (!impl_->adapted || c.resolution == kResolutionAuto) impl_->base();
}

Pipeline::~Pipeline() = default;

void Pipeline::set_resolution(int resolution, const std::string& upscaler,
                              std::optional<bool> adapter) {
  if (resolution != kResolutionAuto && resolution != kResolutionFull &&
      (resolution < 4 || resolution >= kAlignedSize)) {
    throw Error("pipeline", "resolution " + std::to_string(resolution) +
                                " out of range (auto, full, or 4..111)");
  }
  Impl& m = *impl_;
  const Impl::Asked want{resolution, upscaler, adapter};
  if (want == m.asked) return;
  // Resolve (and load) before changing anything: a missing or bad model leaves the pipeline
  // as it was.
  const Impl::Asked before = m.asked;
  m.asked = want;
  try {
    if (simulating(resolution)) {
      const Recovery r = m.recovery_for(resolution);
      (void)m.upscaler(r.upscaler, resolution);
      if (r.adapter) (void)m.adapted_embedder(m.store.adapter_for(m.config.embedder, resolution));
    } else if (resolution == kResolutionAuto && m.info.cutoff_px > 0) {
      // Every size below the cut-off must resolve (an explicit "dsr" or adapter "on" without
      // the model is reported now); the student of the smallest sizes is loaded ahead.
      for (int px = 8; px < m.info.cutoff_px; ++px) (void)m.recovery_for(px);
      const Recovery r = m.recovery_for(16);
      if (r.adapter) (void)m.adapted_embedder(m.store.adapter_for(m.config.embedder, 16));
    }
  } catch (...) {
    m.asked = before;
    throw;
  }
  m.config.resolution = resolution;
  m.config.upscaler = upscaler;
  m.config.adapter = adapter;
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
  // Only one adapted EdgeFace is held at a time: the faces that need the loaded one go first,
  // then the rest grouped by network, so that a frame with faces of 16 and 32 px loads an
  // adapter once rather than once per face. Results keep the order of `faces`.
  std::vector<std::pair<std::string, std::size_t>> order;
  order.reserve(faces.size());
  for (std::size_t i = 0; i < faces.size(); ++i) {
    std::string need = impl_->adapter_needed(faces[i]);
    if (!need.empty() && need == impl_->adapted_name) need.clear();  // loaded: with the base's
    order.emplace_back(std::move(need), i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<FaceResult> out(faces.size());
  for (const auto& [need, i] : order) {
    FaceResult& r = out[i];
    r.face = faces[i];
    try {
      impl_->process_face(bgr, r, sw);
    } catch (const Error& e) {
      if (e.stage() != "align") throw;
      r.status = FaceStatus::kTooSmall;
      r.note = e.what();
      r.embedding.clear();
    }
  }
  return out;
}

std::size_t Pipeline::embedder_loads() const { return impl_->loads; }

FaceResult Pipeline::process_aligned(const cv::Mat& aligned) {
  if (aligned.empty() || aligned.type() != CV_8UC3) {
    throw Error("pipeline", "aligned face must be a non-empty 8-bit BGR image");
  }
  impl_->times = {};
  Stopwatch sw;
  FaceResult r;
  r.face.box = cv::Rect2f(0, 0, static_cast<float>(aligned.cols), static_cast<float>(aligned.rows));
  r.face.score = 1;
  r.native_px = static_cast<float>(aligned.cols);
  r.aligned = aligned;
  if (simulating(impl_->config.resolution)) {
    r.lowres = degrade(aligned, impl_->config.resolution, impl_->config.degrade);
    impl_->times.degrade_ms += sw.lap_ms();
    impl_->recover(r, impl_->config.resolution, /*native=*/false, sw);
  } else {
    impl_->full(r, sw);
  }
  return r;
}

std::vector<float> Pipeline::embed_full(const cv::Mat& aligned) {
  return impl_->base().embed(aligned);
}

std::vector<float> Pipeline::embed_small(const cv::Mat& aligned, int px) {
  if (aligned.empty() || aligned.type() != CV_8UC3) {
    throw Error("pipeline", "aligned face must be a non-empty 8-bit BGR image");
  }
  if (px < 4 || px >= kAlignedSize) {
    throw Error("pipeline", "small-face size " + std::to_string(px) + " out of range (4..111)");
  }
  Impl& m = *impl_;
  m.times = {};
  Stopwatch sw;
  FaceResult r;
  r.aligned = aligned;
  r.lowres = degrade(aligned, px, m.config.degrade);
  m.times.degrade_ms += sw.lap_ms();
  // As recovery_for(px) on the settings asked (full mode asks for bicubic and the base model).
  m.recover(r, px, /*native=*/!simulating(m.config.resolution), sw);
  return std::move(r.embedding);
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
float Pipeline::threshold_for(int px) const {
  const Impl& m = *impl_;
  return vlrface::threshold_for(m.store, m.config.embedder, m.config.resolution, m.asked.upscaler,
                                m.asked.adapter, px);
}
Recovery Pipeline::recovery_for(int px) const {
  return impl_->recovery_for(simulating(impl_->config.resolution) ? impl_->config.resolution : px);
}
int Pipeline::cutoff_px() const {
  return impl_->info.cutoff_px;
}
Detector& Pipeline::detector() {
  return impl_->det();
}
std::string Pipeline::detector_name() const {
  return impl_->det().name();
}
bool Pipeline::approximate_alignment() const {
  impl_->det();
  return impl_->fallback;
}

}  // namespace vlrface
