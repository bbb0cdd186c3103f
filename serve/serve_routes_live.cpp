// Live routes: health, metrics, snapshot, the MJPEG stream, the selected face's images, settings.
#include <algorithm>
#include <chrono>
#include <thread>

#include "serve_draw.hpp"
#include "serve_routes.hpp"
#include "vlrface/align.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/upscale.hpp"
#include "vlrface/version.hpp"

namespace vlrface::serve {
namespace {

constexpr const char* kBoundary = "vlrfaceframe";
// A stream with no new frame resends the last one this often, so that a client that went away
// is noticed by the failed write and its thread returns to the pool.
constexpr double kStreamHeartbeatSeconds = 2.0;

// Whether the face has a picture for the picture network: a face brought down to a working
// size below 112 px (a face at full resolution has nothing to enhance).
bool can_enhance(const live::LiveFace& f) {
  return !f.lowres.empty() && f.lowres.cols < kAlignedSize;
}

// `enhance`: the store has the picture network (ViewEnhancer::available()).
json snapshot_json(const live::Snapshot& s, const live::LiveSettings& settings, bool enhance) {
  json faces = json::array();
  for (const live::LiveFace& f : s.faces) {
    json top = json::array();
    for (const Candidate& c : f.top)
      top.push_back({{"name", c.name}, {"similarity", sim4(c.similarity)}});
    const std::string id = std::to_string(f.track_id);
    json face = {
        {"track_id", f.track_id},
        {"box", box_json(f.box)},
        {"status", f.too_small ? "too_small" : "ok"},
        {"name", f.name ? json(*f.name) : json(nullptr)},
        {"similarity", sim4(f.similarity)},
        {"top", top},
        {"native_px", round_to(f.native_px, 1)},
        {"recovery", f.too_small ? json(nullptr) : json(f.recovery)},
        {"working_px", f.working_px == 0 ? json(nullptr) : json(f.working_px)},
        {"threshold", f.too_small ? json(nullptr) : json(sim4(f.threshold))},
        {"lowres_url", f.lowres.empty() ? json(nullptr) : json("/api/faces/" + id + "/lowres.png")},
        {"upscaled_url",
         f.upscaled.empty() ? json(nullptr) : json("/api/faces/" + id + "/upscaled.png")},
        {"enhanced_url", enhance && can_enhance(f) ? json("/api/faces/" + id + "/enhanced.png")
                                                   : json(nullptr)}};
    // The gallery image of the decision, else of the best candidate, for the side-by-side view.
    const std::string* match = f.name ? &*f.name : f.top.empty() ? nullptr : &f.top[0].name;
    face["gallery_url"] = match ? json(face_image_url(*match, 0)) : json(nullptr);
    faces.push_back(face);
  }
  return {{"frame_number", s.frame_number},
          {"timestamp", round_to(s.timestamp, 3)},
          {"width", s.frame.cols},
          {"height", s.frame.rows},
          {"fps", round_to(s.fps, 2)},
          {"source", s.source},
          {"source_state", s.source_state},
          {"resolution", settings.resolution},
          {"mode", settings.mode},
          {"task", settings.task},
          {"faces", faces}};
}

// 200 only while frames are processed: a monitor that tests the status code alone learns that
// the camera failed, ended or has not delivered its first frame yet.
json health_json(const live::Snapshot& s) {
  std::string status = "ok";
  if (s.source_state == "ended") {
    status = "source_ended";
  } else if (s.source_down_since) {
    status = "source_failed";  // retrying, or opening again after a failure
  } else if (s.source_state != "running") {
    status = s.source_state == "stopped" ? "stopped" : "starting";
  }
  json h = {{"status", status},
            {"version", vlrface::kVersion},
            {"source", s.source},
            {"source_state", s.source_state},
            {"source_failures", s.source_failures},
            {"frame_number", s.frame_number}};
  if (s.source_down_since) {
    h["source_error"] = s.source_error;
    h["source_down_since"] = utc_iso8601(*s.source_down_since);
    h["source_down_for_s"] = round_to(
        std::chrono::duration<double>(std::chrono::system_clock::now() - *s.source_down_since)
            .count(),
        1);
  }
  return h;
}

// What the shown default threshold is calibrated for: a 16 px face in native mode (each face
// has its own; the snapshot gives it per face), the simulated size in simulate mode. The models
// table lists the full-resolution threshold, which no small face is judged with.
std::string threshold_basis(const live::LiveSettings& s, ServeState& state) {
  const bool native = s.mode == "native";
  const int px = native ? 16 : s.resolution;
  std::string recovery = "base";
  try {
    const std::string embedder = state.embedder();
    const ModelInfo& info = state.store().manifest(embedder);
    if (!native || (info.cutoff_px > 0 && px < info.cutoff_px)) {
      recovery = resolve_recovery(state.store(), embedder, px, s.upscaler,
                                  parse_adapter_choice(s.adapter), native)
                     .label();
    }
  } catch (const std::exception&) {
    // Validated when the settings were applied; a label is no reason to fail. (assign(1, c):
    // GCC 12's -Wrestrict misfires on assigning a literal here, PR 105329.)
    recovery.assign(1, '?');
  }
  return std::to_string(px) + " px, " + recovery + ", " + (native ? "native" : "simulated") +
         " faces";
}

json settings_json(const live::LiveEngine& e, ServeState& state) {
  const live::LiveSettings s = e.settings();
  const std::string basis = threshold_basis(s, state);
  double model_threshold = 0;
  try {
    model_threshold = state.store().manifest(state.embedder()).threshold;
  } catch (const std::exception&) {
  }
  return {
      {"resolution", s.resolution},
      {"mode", s.mode},
      {"upscaler", s.upscaler},
      {"adapter", s.adapter},
      {"task", s.task},
      {"verify_name", s.verify_name},
      {"threshold", sim4(s.threshold < -1 ? e.default_threshold() : s.threshold)},
      {"threshold_is_default", s.threshold < -1},
      // Native mode judges each face with the threshold of its own size and recovery (the
      // snapshot gives it per face); this is the one of a 16 px face.
      {"default_threshold", sim4(e.default_threshold())},
      {"threshold_basis", basis},
      {"model_threshold", sim4(model_threshold)},
      {"threshold_note",
       s.mode == "native" ? "per face: calibrated for its size and recovery (shown: " + basis + ")"
                          : "calibrated for " + basis},
      {"choices",
       {{"resolution", {16, 24, 32}},
        {"mode", {"simulate", "native"}},
        {"task", {"identify", "verify"}},
        {"upscaler", {"auto", "bicubic", "dsr"}},
        {"adapter", {"auto", "on", "off"}}}}};
}

template <class T>
T field(const json& body, const char* key) {
  try {
    return body.at(key).get<T>();
  } catch (const json::exception&) {
    throw HttpError(400, std::string("'") + key + "' has the wrong type");
  }
}

live::LiveSettings merge_settings(const json& body, live::LiveSettings s, ServeState& state) {
  static const std::vector<std::string> kKeys = {"resolution", "mode",        "upscaler", "adapter",
                                                 "task",       "verify_name", "threshold"};
  for (const auto& [key, value] : body.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      throw HttpError(400, "unknown setting '" + key + "'");
    }
  }
  if (body.contains("resolution")) {
    s.resolution = field<int>(body, "resolution");
    if (s.resolution != 16 && s.resolution != 24 && s.resolution != 32) {
      throw HttpError(400, "resolution must be 16, 24 or 32");
    }
  }
  if (body.contains("mode")) {
    s.mode = field<std::string>(body, "mode");
    if (s.mode != "simulate" && s.mode != "native") {
      throw HttpError(400, "mode must be 'simulate' or 'native'");
    }
  }
  if (body.contains("upscaler")) {
    s.upscaler = field<std::string>(body, "upscaler");
    if (s.upscaler != "auto" && s.upscaler != "bicubic" && s.upscaler != "dsr") {
      throw HttpError(400, "upscaler must be 'auto', 'bicubic' or 'dsr'");
    }
  }
  if (body.contains("adapter")) {
    s.adapter = field<std::string>(body, "adapter");
    if (s.adapter != "auto" && s.adapter != "on" && s.adapter != "off") {
      throw HttpError(400, "adapter must be 'auto', 'on' or 'off'");
    }
  }
  if (body.contains("task")) {
    s.task = field<std::string>(body, "task");
    if (s.task != "identify" && s.task != "verify") {
      throw HttpError(400, "task must be 'identify' or 'verify'");
    }
  }
  if (body.contains("verify_name")) s.verify_name = field<std::string>(body, "verify_name");
  if (body.contains("threshold")) {
    if (body["threshold"].is_null()) {
      s.threshold = -2;  // back to the model's default
    } else {
      s.threshold = field<float>(body, "threshold");
      if (!(s.threshold >= -1 && s.threshold <= 1)) {
        throw HttpError(400, "threshold must be a cosine in [-1, 1], or null for the default");
      }
    }
  }
  if (s.task == "verify") {
    if (s.verify_name.empty()) throw HttpError(400, "task 'verify' needs a verify_name");
    if (!state.open_gallery().has_person(s.verify_name)) {
      throw HttpError(400, "verify_name: no person named '" + s.verify_name + "' in the gallery");
    }
  }
  return s;
}

void stream(const Req& req, Res& res, ServeState& state) {
  const bool annotate = req.get_param_value("annotate") != "0";
  const double interval = 1.0 / int_param(req, "fps", 15, 1, 30);
  if (++state.stream_clients > state.options().max_streams) {
    --state.stream_clients;
    throw HttpError(503, "too many stream clients (limit " +
                             std::to_string(state.options().max_streams) + "; see --max-streams)");
  }
  struct Client {
    StreamCursor cursor;
    std::shared_ptr<const std::string> last;
    double sent_at = 0;
  };
  auto client = std::make_shared<Client>();
  res.set_header("Cache-Control", "no-store");
  res.set_content_provider(
      std::string("multipart/x-mixed-replace; boundary=") + kBoundary,
      [&state, client, annotate, interval](std::size_t, httplib::DataSink& sink) {
        if (state.stopping()) {
          sink.done();
          return true;
        }
        const double wait = client->sent_at + interval - now_seconds();
        if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
        const std::uint64_t before = client->cursor.frame;
        auto jpeg = state.next_stream_jpeg(client->cursor, annotate, 500);
        if (client->cursor.frame == before) {  // nothing new, or a status card
          if (client->last && now_seconds() - client->sent_at < kStreamHeartbeatSeconds) {
            return true;
          }
          if (!jpeg) jpeg = client->last;
          if (!jpeg) return true;
        }
        const std::string head =
            std::string("--") + kBoundary +
            "\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(jpeg->size()) +
            "\r\n\r\n";
        if (!sink.write(head.data(), head.size()) || !sink.write(jpeg->data(), jpeg->size()) ||
            !sink.write("\r\n", 2)) {
          return false;  // the client went away
        }
        client->last = jpeg;
        client->sent_at = now_seconds();
        return true;
      },
      [&state](bool) { --state.stream_clients; });
}

void face_image(const Params& p, Res& res, ServeState& state) {
  const auto snap = state.live()->snapshot();
  const live::LiveFace* face = nullptr;
  if (snap) {
    for (const auto& f : snap->faces) {
      if (std::to_string(f.track_id) == p[0]) face = &f;
    }
  }
  if (!face) throw HttpError(404, "face " + p[0] + " is not in view");
  const bool low = p[1] == "lowres";
  cv::Mat img = low ? face->lowres : face->upscaled;
  if (p[1] == "enhanced") {
    if (!state.view().available()) {
      throw HttpError(404, "face " + p[0] + " has no enhanced image: the picture network '" +
                               std::string(kViewUpscalerModel) + "' is not installed");
    }
    if (!can_enhance(*face)) {
      throw HttpError(404, "face " + p[0] + " has no enhanced image: it was not made smaller");
    }
    try {
      img = state.view().enhance(face->lowres);
    } catch (const Error& e) {
      throw HttpError(500, e.what());
    }
  }
  if (img.empty()) throw HttpError(404, "face " + p[0] + " has no " + p[1] + " image");
  const auto png = encode_png(low ? nearest_enlarged(img, 112) : img);
  res.set_header("Cache-Control", "no-store");
  res.set_content(std::string(png.begin(), png.end()), "image/png");
}

}  // namespace

void add_live_routes(Router& r, ServeState& state) {
  r.add("GET", "/api/health", [&](const Req&, Res& res, const Params&) {
    const auto eng = state.engine();
    // The event sinks (--mqtt, --webhook) are listed but do not change the status: a broker
    // that is away delays events (they queue), the camera is still watched.
    const json sinks = state.events_status();
    if (!eng) {
      json h = {{"status", "engine_down"},
                {"version", vlrface::kVersion},
                {"error", "the live engine is not running (a model reload failed; see the log)"}};
      if (!sinks.empty()) h["events"] = sinks;
      send_json(res, h, 503);
      return;
    }
    json h = health_json(*eng->snapshot());
    if (!sinks.empty()) h["events"] = sinks;
    send_json(res, h, h["status"] == "ok" ? 200 : 503);
  });
  r.add("GET", "/api/metrics",
        [&](const Req&, Res& res, const Params&) { send_json(res, state.metrics()); });
  r.add("GET", "/api/snapshot", [&](const Req&, Res& res, const Params&) {
    const auto eng = state.live();
    const auto snap = eng->snapshot();
    if (!snap) throw HttpError(503, "no frame yet");
    send_json(res, snapshot_json(*snap, eng->settings(), state.view().available()));
  });
  r.add("GET", "/api/stream",
        [&](const Req& req, Res& res, const Params&) { stream(req, res, state); });
  r.add("GET", R"(/api/faces/(\d{1,18})/(lowres|upscaled|enhanced)\.png)",
        [&](const Req&, Res& res, const Params& p) { face_image(p, res, state); });
  r.add("GET", "/api/settings", [&](const Req&, Res& res, const Params&) {
    send_json(res, settings_json(*state.live(), state));
  });
  r.add("PUT", "/api/settings", [&](const Req& req, Res& res, const Params&) {
    const auto eng = state.live();
    const live::LiveSettings s = merge_settings(json_body(req), eng->settings(), state);
    try {
      eng->update_settings(s);
    } catch (const Error& e) {
      throw HttpError(400, e.what());
    }
    send_json(res, settings_json(*eng, state));
  });
}

}  // namespace vlrface::serve
