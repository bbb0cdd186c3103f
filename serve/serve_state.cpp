#include "serve_state.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <opencv2/imgproc.hpp>

#include "capture_check.hpp"
#include "serve_auth.hpp"
#include "serve_draw.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vlrface::cli {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

namespace {

// Request-side models (a second detector and embedder, ~20 MB, loaded only while no live engine
// exists) are worth their memory only while someone uses them.
constexpr double kPipelineIdleSeconds = 30;
// Uploads are detected at most this large when no live frame gives the size (landmarks map back
// to the full image for alignment): the detector's activations grow with the area.
constexpr int kRequestDetectSide = 640;
// Uploads are kept at most this large once decoded (alignment still sees 100+ px faces).
constexpr int kRequestImageSide = 1920;
constexpr std::size_t kKeptCaptureJobs = 16;

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

double round1(double x) {
  return std::round(x * 10) / 10;
}

std::string fmt4(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", x);
  return buf;
}

}  // namespace

ServeState::ServeState(const GlobalOptions& g, const ServeOptions& o)
    : global_(g), options_(o), ctx_(g), started_(now_seconds()) {
  embedder_ = g.embedder;
  const ModelInfo& info = ctx_.store().get(embedder_);  // a missing model fails here, by name
  if (is_adapted_embedder(info)) {
    throw Error("serve", "--model " + embedder_ +
                             ": an adapted model for small faces cannot be the main embedder; "
                             "use " + (info.base.empty() ? std::string(kDefaultEmbedder) : info.base));
  }
  model_id_ = info.id;
  default_threshold_ = static_cast<float>(info.threshold);
  // Without YuNet every frame goes to the Haar fallback (approximate alignment): said at start,
  // naming the missing file, as the CLI says it.
  ctx_.warn_if_detector_fallback();
  // Refuses another model's gallery now, not per request; then stays open to watch the file.
  watch_.emplace(ctx_.open_gallery(/*create=*/true));

  source_ = live::SourceSpec::parse(o.camera);
  source_.width = o.width;
  source_.height = o.height;
  source_.fps = o.fps;
  source_.loop = o.loop;

  live::LiveSettings s;
  // --res auto (the default): native mode, each face from its own size; --res N: every face
  // shrunk to N px first (simulate mode).
  const int res = parse_resolution(o.resolution);
  if (res == kResolutionFull) throw Error("serve", "--res must be auto or a size such as 16");
  s.mode = res == kResolutionAuto ? "native" : "simulate";
  if (res > 0) s.resolution = res;
  s.upscaler = o.upscaler;
  s.adapter = o.adapter;
  s.threshold = static_cast<float>(o.threshold);
  settings_ = s;
  engine_ = make_engine(embedder_, s);
}

ServeState::~ServeState() {
  stop();
}

std::shared_ptr<live::LiveEngine> ServeState::make_engine(const std::string& embedder,
                                                          const live::LiveSettings& s) const {
  auto e = std::make_shared<live::LiveEngine>(ctx_.store(), ctx_.gallery_path(), s, source_,
                                              embedder);
  if (options_.on_engine) options_.on_engine(*e);  // events (serve --mqtt/--webhook)
  return e;
}

void ServeState::start() {
  engine()->start();
  house_thread_ = std::thread([this] { housekeeping(); });
}

void ServeState::request_stop() {
  stopping_ = true;
  std::lock_guard lock(house_mu_);
  house_cv_.notify_all();
}

void ServeState::stop() {
  if (stopped_.exchange(true)) return;
  request_stop();
  if (house_thread_.joinable()) house_thread_.join();
  // The engine stops first so that a capture waiting for frames returns.
  if (auto e = engine()) e->stop();
  if (capture_thread_.joinable()) capture_thread_.join();
  std::lock_guard lock(engine_mu_);
  engine_.reset();
}

std::string ServeState::embedder() const {
  std::lock_guard lock(engine_mu_);
  return embedder_;
}

std::string ServeState::model_id() const {
  std::lock_guard lock(engine_mu_);
  return model_id_;
}

float ServeState::default_threshold() const {
  std::lock_guard lock(engine_mu_);
  return default_threshold_;
}

std::shared_ptr<live::LiveEngine> ServeState::engine() const {
  std::lock_guard lock(engine_mu_);
  return engine_;
}

std::shared_ptr<live::LiveEngine> ServeState::live() const {
  auto e = engine();
  if (!e)
    throw HttpError(503, "the live engine is not running (a model reload failed; see the log)");
  return e;
}

Gallery ServeState::open_gallery() const {
  GallerySettings gs;
  gs.create_if_missing = true;
  return Gallery(ctx_.gallery_path(), model_id(), gs);
}

void ServeState::gallery_changed() {
  // This change is ours: taken note of here, so that housekeeping does not reload it again.
  gallery_file_changed();
  if (auto e = engine()) e->reload_gallery();
}

bool ServeState::gallery_file_changed() {
  std::lock_guard lock(watch_mu_);
  if (!watch_) return false;
  try {
    const bool changed = watch_->refresh_if_changed();
    watch_error_.clear();
    return changed;
  } catch (const std::exception& e) {
    if (watch_error_ != e.what()) spdlog::warn("serve: watching the gallery: {}", e.what());
    watch_error_ = e.what();
    return false;
  }
}

std::vector<FaceResult> RequestModels::process(const cv::Mat& image) {
  if (!detector_) return pipeline_.process(image);
  return pipeline_.process(image, detect_in_canvas(*detector_, image, canvas_));
}

void ServeState::with_pipeline(int resolution, const std::function<void(RequestModels&)>& f) {
  std::lock_guard lock(infer_mu_);
  if (const auto eng = engine()) {
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
  const std::string model = embedder();
  std::string upscaler, adapter;
  {
    std::lock_guard e(engine_mu_);
    upscaler = settings_.upscaler;
    adapter = settings_.adapter;
  }
  if (!pipeline_ || pipeline_model_ != model) {
    pipeline_.reset();
    pipeline_loaded_ = false;
    PipelineConfig config;
    config.embedder = model;
    config.resolution = resolution;
    config.detector.max_input_side = kRequestDetectSide;
    pipeline_ = std::make_unique<Pipeline>(ctx_.store(), config);
    pipeline_loaded_ = true;
    pipeline_model_ = model;
  }
  pipeline_->set_resolution(resolution, upscaler, parse_adapter_choice(adapter));
  RequestModels m(*pipeline_, nullptr, {});
  f(m);
  pipeline_used_ = now_seconds();
}

cv::Mat ServeState::decode(const Upload& upload, double* scale) {
  std::lock_guard lock(decode_mu_);
  // Shrunk while decoding: a 3000x3000 photo never exists at full size in memory.
  return decode_upload(upload, limits(), kRequestImageSide, scale);
}

void ServeState::housekeeping() {
  double last_cpu = cpu_seconds(), last_t = now_seconds();
  std::unique_lock lock(house_mu_);
  while (!stopping_) {
    // Every second: a person removed or enrolled by the CLI is seen by the live view and
    // /api/identify (both match with the engine's templates) within about that long.
    house_cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    if (gallery_file_changed()) {
      lock.unlock();  // a reload of a large gallery must not hold up request_stop()
      try {
        if (auto e = engine()) e->reload_gallery();
        spdlog::info("serve: the gallery changed on disk; templates reloaded");
      } catch (const std::exception& e) {
        // The engine keeps the templates it had; the next change tries again.
        spdlog::warn("serve: the gallery changed on disk but cannot be reloaded: {}", e.what());
      }
      lock.lock();
      if (stopping_) break;
    }
    report_source();
    const double cpu = cpu_seconds(), t = now_seconds();
    cpu_percent_ = round1(100 * (cpu - last_cpu) / std::max(1e-3, t - last_t));
    last_cpu = cpu;
    last_t = t;
    std::unique_lock infer(infer_mu_, std::try_to_lock);
    if (infer && pipeline_ && t - pipeline_used_ > kPipelineIdleSeconds) {
      pipeline_.reset();
      pipeline_loaded_ = false;
      malloc_trim(0);  // give the freed model memory back to the system, not to the heap
      spdlog::info("serve: request-side models unloaded after {} s idle", kPipelineIdleSeconds);
    }
  }
}

void ServeState::report_source() {
  const auto eng = engine();
  if (!eng) return;
  const auto snap = eng->snapshot();
  if (eng.get() != reported_engine_) {
    reported_engine_ = eng.get();
    reported_failures_ = 0;
    reported_error_.clear();
    reported_down_ = false;
  }
  const live::Snapshot& s = *snap;
  if (s.source_down_since) {
    if (s.source_failures != reported_failures_ || s.source_error != reported_error_) {
      const bool ended = s.source_state == "ended";
      // The engine's errors mostly begin with the source already.
      const std::string what = s.source_error.rfind(s.source, 0) == 0
                                   ? s.source_error
                                   : s.source + ": " + s.source_error;
      spdlog::warn("serve: the source {} at {}: {}{}", ended ? "ended" : "failed",
                   utc_iso8601(*s.source_down_since), what,
                   ended ? "; /api/health answers 503"
                         : "; retrying, /api/health answers 503 until frames come again");
    }
    reported_down_ = true;
  } else if (reported_down_ || s.source_failures > reported_failures_) {
    // Also a failure that came and went between two looks: it is said, if only afterwards.
    spdlog::warn("serve: the source delivers frames again{}: {}",
                 reported_down_ ? "" : " after a short failure", s.source);
    reported_down_ = false;
  }
  reported_failures_ = s.source_failures;
  reported_error_ = s.source_error;
}

std::shared_ptr<CaptureJob> ServeState::start_capture(const std::string& name, int count,
                                                      bool create) {
  std::lock_guard lock(jobs_mu_);
  if (capture_running_) throw HttpError(409, "a capture is already running; try again when done");
  if (capture_thread_.joinable()) capture_thread_.join();
  auto job = std::make_shared<CaptureJob>();
  job->id = random_hex(8);
  job->name = name;
  job->count = count;
  job->create = create;
  job->started = now_seconds();
  while (jobs_.size() >= kKeptCaptureJobs) {
    auto oldest = jobs_.begin();
    for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
      if (it->second->started < oldest->second->started) oldest = it;
    }
    jobs_.erase(oldest);
  }
  jobs_[job->id] = job;
  capture_running_ = true;
  capture_thread_ = std::thread([this, job] { run_capture(job); });
  return job;
}

void ServeState::run_capture(std::shared_ptr<CaptureJob> job) {
  const auto finish = [&](const std::string& state, const std::string& error, int enrolled) {
    std::lock_guard lock(jobs_mu_);
    job->state = state;
    job->error = error;
    job->enrolled = enrolled;
    capture_running_ = false;
  };
  try {
    // Enough time for a person to step in front of the camera and hold still.
    const int timeout_ms = std::min(120000, 10000 + job->count * 1500);
    const auto faces =
        live()->capture_faces(job->count, timeout_ms, [&](int done, int) { job->done = done; });
    if (faces.empty()) {
      finish("failed",
             "no usable face in " + std::to_string(timeout_ms / 1000) +
                 " s: one sharp, frontal face, large enough, must be in view",
             0);
      return;
    }
    {
      std::lock_guard lock(jobs_mu_);
      job->state = "enrolling";
    }
    std::vector<EnrollFace> enrol;
    with_pipeline(0, [&](RequestModels& m) {
      for (const cv::Mat& f : faces) enrol.push_back({f, m.embed_full(f), "camera"});
    });
    // Whoever was in view is enrolled: refuse a capture of several people, and say when the
    // person is enrolled already (under another name). The embeddings are full-resolution ones,
    // so the threshold in use is the model's full-resolution one, or the user's setting.
    const auto eng = live();
    const live::LiveSettings ls = eng->settings();
    const float threshold = ls.threshold >= -1 ? ls.threshold : default_threshold();
    std::vector<std::vector<float>> embeddings;
    for (const EnrollFace& f : enrol) embeddings.push_back(f.embedding);
    const live::CaptureAgreement agreement = live::check_agreement(embeddings, threshold);
    if (!agreement.agree) {
      finish("failed", agreement.message(threshold), 0);
      return;
    }
    const std::vector<Candidate> known =
        live::already_enrolled(*eng->matcher(), embeddings, threshold, job->name);
    if (!known.empty()) {
      std::string who;
      for (const Candidate& c : known) {
        who += (who.empty() ? "" : ", ") + c.name + " (similarity " +
               fmt4(c.similarity) + ")";
      }
      std::lock_guard lock(jobs_mu_);
      job->already_enrolled = known;
      job->warning = "these faces match " + who + ", already enrolled (threshold " +
                     fmt4(threshold) +
                     "): the same person under two names? Enrolled as '" + job->name +
                     "' anyway; remove one if so";
    }
    Gallery g = open_gallery();
    if (job->create && g.has_person(job->name)) {
      finish("failed", "the name '" + job->name + "' was taken meanwhile", 0);
      return;
    }
    if (!job->create && !g.has_person(job->name)) {
      finish("failed", "'" + job->name + "' was removed meanwhile", 0);
      return;
    }
    g.enroll(job->name, enrol);
    gallery_changed();
    finish("done", "", static_cast<int>(enrol.size()));
  } catch (const std::exception& e) {
    spdlog::warn("serve: capture for '{}': {}", job->name, e.what());
    finish("failed", e.what(), 0);
  }
}

json ServeState::capture_json(const CaptureJob& job) const {
  json j = {{"id", job.id},
            {"name", job.name},
            {"count", job.count},
            {"captured", job.done.load()},
            {"state", job.state},
            {"enrolled", job.enrolled},
            {"url", "/api/capture/" + job.id}};
  if (!job.error.empty()) j["error"] = job.error;
  json known = json::array();
  for (const Candidate& c : job.already_enrolled) {
    known.push_back({{"name", c.name}, {"similarity", sim4(c.similarity)}});
  }
  j["already_enrolled"] = known;
  if (!job.warning.empty()) j["warning"] = job.warning;
  return j;
}

json ServeState::capture_json(const std::string& id) const {
  std::lock_guard lock(jobs_mu_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return nullptr;
  return capture_json(*it->second);
}

}  // namespace vlrface::cli
