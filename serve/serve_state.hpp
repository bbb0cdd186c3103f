// What the handlers of `vlrface serve` share, put together from narrower parts: the live engine
// and its model (EngineHolder), the gallery and its follower (GalleryFollower), request-side
// inference (RequestInference), enrolment captures (CaptureJobs), the encoded stream frame
// (StreamEncoder) and the process metrics (serve_monitor.hpp). ServeState owns them, runs the
// housekeeping thread that ties them together, and forwards what the handlers call.
//
// Usage:
//   ServeState state({store, gallery_path, resolve_serve_model(store, name), hook}, options);
//   state.start();  ... handlers call state.engine(), state.open_gallery(), ...  state.stop();
// With `live_engine` false in the setup there is no engine (the state a failed model reload
// leaves): nothing is loaded, the gallery, capture-status and asset routes work and the live
// ones answer 503. The unit tests run it so, without model files.
// Memory is the budget that matters on a Pi: requests borrow the live engine's models (or,
// without an engine, load their own on first use and free them after 30 s idle), and each
// stream frame is JPEG-encoded once for all clients.
// Thread safety: every public method may be called from any handler thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "live_engine.hpp"
#include "serve.hpp"
#include "serve_capture.hpp"
#include "serve_engine.hpp"
#include "serve_enhance.hpp"
#include "serve_gallery.hpp"
#include "serve_http.hpp"
#include "serve_inference.hpp"
#include "serve_monitor.hpp"
#include "serve_stream.hpp"

namespace vlrface::serve {

// What a ServeState serves. `store` must outlive the state.
struct ServeSetup {
  const ModelStore& store;
  std::filesystem::path gallery;
  ServeModel model;
  EngineHolder::Hook on_engine;  // attached to every engine made (events)
  bool live_engine = true;       // false: none (see above)
  // The event sinks' state, for /api/health (a JSON array); null: no sinks.
  std::function<nlohmann::json()> events_status = {};
};

class ServeState {
 public:
  ServeState(const ServeSetup& setup, const ServeOptions& o);
  ~ServeState();
  ServeState(const ServeState&) = delete;
  ServeState& operator=(const ServeState&) = delete;

  void start();
  void request_stop();  // quick, from a signal: long-running handlers see stopping()
  void stop();          // stops the engine and waits for a running capture; idempotent
  bool stopping() const { return stopping_; }

  const ServeOptions& options() const { return options_; }
  const ModelStore& store() const { return engines_.store(); }
  std::filesystem::path gallery_path() const { return gallery_.path(); }
  ImageLimits limits() const { return inference_.limits(); }
  std::string embedder() const { return engines_.embedder(); }
  std::string model_id() const { return engines_.model_id(); }
  float default_threshold() const { return engines_.default_threshold(); }

  // The current engine; a model reload replaces it, so hold the pointer only for one request.
  std::shared_ptr<live::LiveEngine> engine() const { return engines_.engine(); }
  // The same for handlers: 503 instead of null.
  std::shared_ptr<live::LiveEngine> live() const { return engines_.live(); }

  // Opens the gallery for one change or read (a Gallery per call: SQLite does the locking).
  Gallery open_gallery() const { return gallery_.open(model_id()); }
  // After a change: the engine re-reads its templates. Changes by other processes (the CLI) are
  // noticed by the housekeeping thread within a second and reloaded the same way.
  void gallery_changed();

  void with_pipeline(int resolution, const std::function<void(RequestModels&)>& f) {
    inference_.with_pipeline(resolution, f);
  }
  cv::Mat decode(const Upload& upload, double* scale = nullptr) {
    return inference_.decode(upload, scale);
  }

  CaptureJobs& captures() { return captures_; }
  // The picture network for the selected face's "DSR" image.
  ViewEnhancer& view() { return view_; }

  std::shared_ptr<const std::string> next_stream_jpeg(StreamCursor& cursor, bool annotate,
                                                      int timeout_ms) {
    return stream_.next(engine(), cursor, annotate, timeout_ms);
  }

  // Switches (or reloads) the embedding model (EngineHolder::reload).
  nlohmann::json reload_models(const std::string& embedder, bool reembed);

  nlohmann::json metrics() const;
  // One object per event sink (events::to_json(SinkStats)); empty without --mqtt/--webhook.
  nlohmann::json events_status() const {
    return events_status_ ? events_status_() : nlohmann::json::array();
  }

  std::atomic<int> stream_clients{0};
  std::atomic<std::uint64_t> requests{0};

 private:
  void housekeeping();

  ServeOptions options_;
  std::function<nlohmann::json()> events_status_;
  double started_ = 0;
  EngineHolder engines_;
  // mutable: noting a change (changed()) is no change to the gallery.
  mutable GalleryFollower gallery_;
  RequestInference inference_;
  CaptureJobs captures_;
  StreamEncoder stream_;
  ViewEnhancer view_;
  CpuMeter cpu_;
  SourceReporter source_report_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
  std::mutex house_mu_;
  std::condition_variable house_cv_;
  std::thread house_thread_;
};

}  // namespace vlrface::serve
