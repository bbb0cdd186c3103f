#include "serve_state.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>

#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"

using nlohmann::json;

namespace vlrface::serve {
namespace {

live::SourceSpec source_of(const ServeOptions& o) {
  live::SourceSpec source = live::SourceSpec::parse(o.camera);
  source.width = o.width;
  source.height = o.height;
  source.fps = o.fps;
  source.loop = o.loop;
  return source;
}

live::LiveSettings settings_of(const ServeOptions& o) {
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
  return s;
}

double round2(double x) {
  return std::round(x * 100) / 100;
}

}  // namespace

ServeState::ServeState(const ServeSetup& setup, const ServeOptions& o)
    : options_(o),
      events_status_(setup.events_status),
      started_(now_seconds()),
      engines_(setup.store, setup.gallery, source_of(o), setup.model, settings_of(o),
               setup.on_engine),
      gallery_(setup.gallery, setup.model.id),
      inference_(engines_, ImageLimits{o.max_image_side}),
      captures_(engines_, inference_,
                {[this] { return open_gallery(); }, [this] { gallery_changed(); }}),
      stream_(engines_.source(), o.stream_quality),
      view_(setup.store) {
  if (setup.live_engine) engines_.create();
}

ServeState::~ServeState() {
  stop();
}

void ServeState::start() {
  if (auto e = engine()) e->start();
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
  captures_.join();
  engines_.stop();
}

void ServeState::gallery_changed() {
  // This change is ours: taken note of here, so that housekeeping does not reload it again.
  gallery_.changed();
  if (auto e = engine()) e->reload_gallery();
}

json ServeState::reload_models(const std::string& embedder, bool reembed) {
  return engines_.reload(embedder, reembed, [this] { inference_.unload(); });
}

void ServeState::housekeeping() {
  std::unique_lock lock(house_mu_);
  while (!stopping_) {
    // Every second: a person removed or enrolled by the CLI is seen by the live view and
    // /api/identify (both match with the engine's templates) within about that long.
    house_cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    if (gallery_.changed()) {
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
    source_report_.report(engine().get());
    cpu_.sample();
    inference_.unload_if_idle();
  }
}

json ServeState::metrics() const {
  const auto eng = engine();
  const auto snap = eng ? eng->snapshot() : nullptr;
  const ProcStatus p = proc_status();
  json m;
  if (snap) {
    const StageTimes& t = snap->times;
    m["stages_ms"] = {
        {"detect", round2(t.detect_ms)},
        {"align", round2(t.align_ms)},
        {"degrade", round2(t.degrade_ms)},
        {"upscale", round2(t.upscale_ms)},
        {"embed", round2(t.embed_ms)},
        {"total", round2(t.detect_ms + t.align_ms + t.degrade_ms + t.upscale_ms + t.embed_ms)}};
    m["fps"] = round2(snap->fps);
    m["latency_ms"] = round2(snap->latency_ms);
    m["pipeline_depth"] = snap->pipeline_depth;
    m["frame_number"] = snap->frame_number;
    m["faces"] = snap->faces.size();
    m["source"] = snap->source;
    m["source_state"] = snap->source_state;
  } else {
    m["stages_ms"] = json::object();
    m["fps"] = 0;
    m["latency_ms"] = 0;
    m["pipeline_depth"] = 0;
    m["frame_number"] = 0;
    m["faces"] = 0;
    m["source"] = engines_.source().describe();
    m["source_state"] = "starting";
  }
  m["rss_mb"] = round2(p.rss_mb);
  m["rss_peak_mb"] = round2(p.peak_mb);
  m["threads"] = p.threads;
  m["cpu_percent"] = cpu_.percent();
  m["cpu_seconds"] = round2(cpu_seconds());
  m["clients"] = {{"streams", stream_clients.load()}, {"max_streams", options_.max_streams}};
  m["requests"] = requests.load();
  m["uptime_s"] = round2(now_seconds() - started_);
  m["http_threads"] = options_.http_threads + options_.max_streams;
  m["inference_threads"] = inference_threads();
  m["embedder"] = embedder();
  m["request_models_loaded"] = inference_.loaded();
  return m;
}

}  // namespace vlrface::serve
