// ServeState's engine side: the shared stream encoder, model reloads and metrics.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <fstream>

#include "serve_draw.hpp"
#include "serve_state.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

using nlohmann::json;

namespace vlrface::cli {
namespace {

struct ProcStatus {
  double rss_mb = 0, peak_mb = 0;
  int threads = 0;
};

ProcStatus proc_status() {
  ProcStatus p;
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> p.rss_mb;
      p.rss_mb /= 1024;
    } else if (key == "VmHWM:") {
      in >> p.peak_mb;
      p.peak_mb /= 1024;
    } else if (key == "Threads:") {
      in >> p.threads;
    }
    in.ignore(1 << 12, '\n');
  }
  return p;
}

double round2(double x) {
  return std::round(x * 100) / 100;
}

}  // namespace

bool is_adapted_embedder(const ModelInfo& info) {
  const std::string lr = "_lr";
  const bool lr_name =
      info.name.size() > lr.size() && info.name.compare(info.name.size() - lr.size(), lr.size(), lr) == 0;
  return info.kind == "embedder" && (!info.base.empty() || lr_name);
}

std::shared_ptr<const std::string> ServeState::next_stream_jpeg(StreamCursor& cursor, bool annotate,
                                                                int timeout_ms) {
  const auto eng = engine();
  if (!eng) return nullptr;
  if (cursor.engine != eng.get()) cursor = {eng.get(), 0};
  const auto snap = eng->wait_snapshot(cursor.frame, timeout_ms);
  if (!snap || snap->frame.empty()) {
    // Nothing to show yet: say why (opening, retrying, ended) instead of a blank image.
    const std::string state = snap ? snap->source_state : "starting";
    const int w = source_.width > 0 ? source_.width : 640;
    const int h = source_.height > 0 ? source_.height : 480;
    return std::make_shared<const std::string>([&] {
      const auto bytes = encode_jpeg(status_card(state, w, h), 80);
      return std::string(bytes.begin(), bytes.end());
    }());
  }
  if (snap->frame_number <= cursor.frame) return nullptr;
  cursor.frame = snap->frame_number;
  std::lock_guard lock(stream_mu_);
  Encoded& slot = encoded_[annotate ? 1 : 0];
  if (slot.snap.lock() != snap) {
    const auto bytes =
        encode_jpeg(annotate ? annotate_frame(*snap) : snap->frame, options_.stream_quality);
    slot.jpeg = std::make_shared<const std::string>(bytes.begin(), bytes.end());
    slot.snap = snap;
  }
  return slot.jpeg;
}

json ServeState::reload_models(const std::string& name, bool reembed) {
  std::lock_guard reload(reload_mu_);
  if (!store().has(name)) throw HttpError(404, "no model named '" + name + "'");
  const ModelInfo& info = store().get(name);
  if (info.kind != "embedder") {
    throw HttpError(400, "'" + name + "' is a " + info.kind + ", not an embedding model");
  }
  // Refused before the gallery is touched: nothing is re-embedded for a model that cannot run.
  if (is_adapted_embedder(info)) {
    throw HttpError(400, "'" + name + "' is an adapted model for small faces" +
                             (info.base.empty() ? std::string() : " (of " + info.base + ")") +
                             ", used inside their recovery; choose a main embedder such as " +
                             (info.base.empty() ? std::string(kDefaultEmbedder) : info.base));
  }
  int reembedded = 0;
  {
    GallerySettings gs;
    gs.create_if_missing = true;
    Gallery g(gallery_path(), info.id, gs, GalleryOpen::kAllowModelMismatch);
    if (g.model_id() != info.id) {
      if (g.size() > 0 && !reembed) {
        throw HttpError(409, "the gallery holds embeddings of " + g.model_id() + ": switching to " +
                                 info.id + " re-embeds its " + std::to_string(g.size()) +
                                 " people from their stored faces; send \"reembed\": true");
      }
      Embedder emb(info);
      g.reembed([&](const cv::Mat& face) { return emb.embed(face); }, info.id);
      reembedded = static_cast<int>(g.size());
    }
  }
  const std::string previous = embedder();
  auto old = engine();
  live::LiveSettings settings = settings_;
  if (old) {
    settings = old->settings();
    old->stop();
  }
  {
    std::lock_guard lock(engine_mu_);
    engine_.reset();
  }
  old.reset();  // both engines' models at once would double the peak memory
  {
    std::lock_guard lock(infer_mu_);
    pipeline_.reset();
    pipeline_loaded_ = false;
  }
  std::shared_ptr<live::LiveEngine> fresh;
  try {
    fresh = make_engine(name, settings);
    fresh->start();
  } catch (const std::exception& e) {
    spdlog::warn("serve: loading {} failed ({}); restarting with {}", name, e.what(), previous);
    try {
      fresh = make_engine(previous, settings);
      fresh->start();
      std::lock_guard lock(engine_mu_);
      engine_ = fresh;
    } catch (const std::exception& again) {
      // Left without an engine: handlers answer 503 and the next reload may fix it.
      spdlog::error("serve: restarting with {} failed too: {}", previous, again.what());
    }
    throw;
  }
  std::lock_guard lock(engine_mu_);
  engine_ = fresh;
  settings_ = settings;
  embedder_ = name;
  model_id_ = info.id;
  default_threshold_ = static_cast<float>(info.threshold);
  spdlog::info("serve: embedding model {} loaded", info.id);
  return {{"embedder", name}, {"id", info.id}, {"reembedded_people", reembedded}};
}

json ServeState::metrics() const {
  const auto eng = engine();
  const auto snap = eng ? eng->snapshot() : nullptr;
  const ProcStatus p = proc_status();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
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
    m["source"] = source_.describe();
    m["source_state"] = "starting";
  }
  m["rss_mb"] = round2(p.rss_mb);
  m["rss_peak_mb"] = round2(p.peak_mb);
  m["threads"] = p.threads;
  m["cpu_percent"] = cpu_percent_.load();
  m["cpu_seconds"] = round2(ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                            ru.ru_stime.tv_usec / 1e6);
  m["clients"] = {{"streams", stream_clients.load()}, {"max_streams", options_.max_streams}};
  m["requests"] = requests.load();
  m["uptime_s"] = round2(now_seconds() - started_);
  m["http_threads"] = options_.http_threads + options_.max_streams;
  m["inference_threads"] = inference_threads();
  m["embedder"] = embedder();
  m["request_models_loaded"] = pipeline_loaded_.load();
  return m;
}

}  // namespace vlrface::cli
