// What the handlers of `vlrface serve` share: the live engine, the gallery, request-side
// inference, enrolment captures, the encoded stream frame and the process metrics.
//
// Usage:
//   ServeState state(global_options, serve_options);   // loads models, opens the source lazily
//   state.start();  ... handlers call state.engine(), state.edit_gallery(...) ...  state.stop();
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
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "context.hpp"
#include "live_engine.hpp"
#include "serve.hpp"
#include "serve_http.hpp"

namespace vlrface::cli {

// Where one stream client is: the engine and the frame number it last sent (a model reload
// replaces the engine, whose frame numbers start again).
struct StreamCursor {
  const void* engine = nullptr;
  std::uint64_t frame = 0;
};

struct CaptureJob {
  std::string id, name;
  int count = 0;
  bool create = true;        // a new person (fails if the name got taken meanwhile)
  std::atomic<int> done{0};  // faces kept so far
  // Guarded by ServeState's jobs mutex:
  std::string state = "capturing";  // capturing | enrolling | done | failed
  std::string error;
  int enrolled = 0;
  double started = 0;
  // Enrolled people the captured faces match (other than `name` itself): enrolled anyway, with
  // a warning that says who and how similar.
  std::vector<Candidate> already_enrolled;
  std::string warning;
};

// The models a request may use inside ServeState::with_pipeline (valid only there).
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

class ServeState {
 public:
  ServeState(const GlobalOptions& g, const ServeOptions& o);
  ~ServeState();
  ServeState(const ServeState&) = delete;
  ServeState& operator=(const ServeState&) = delete;

  void start();
  void request_stop();  // quick, from a signal: long-running handlers see stopping()
  void stop();          // stops the engine and waits for a running capture; idempotent
  bool stopping() const { return stopping_; }

  const ServeOptions& options() const { return options_; }
  const ModelStore& store() const { return ctx_.store(); }
  std::filesystem::path gallery_path() const { return ctx_.gallery_path(); }
  ImageLimits limits() const { return {options_.max_image_side}; }
  std::string embedder() const;
  std::string model_id() const;
  float default_threshold() const;

  // The current engine; a model reload replaces it, so hold the pointer only for one request.
  std::shared_ptr<live::LiveEngine> engine() const;
  // The same for handlers: 503 instead of null.
  std::shared_ptr<live::LiveEngine> live() const;

  // Opens the gallery for one change or read (a Gallery per call: SQLite does the locking).
  Gallery open_gallery() const;
  // After a change: the engine re-reads its templates. Changes by other processes (the CLI) are
  // noticed by the housekeeping thread within a second and reloaded the same way.
  void gallery_changed();

  // Request-side detection and embedding (identify, enrolment from uploads and captures), one
  // at a time. While a live engine exists its own networks do the work, between two frames, so
  // requests cost no second copy of the models; only without one (a model reload failed) are
  // request-side models loaded, on first use, and freed after 30 s idle.
  void with_pipeline(int resolution, const std::function<void(RequestModels&)>& f);
  // Decodes an upload (413/415 as decode_upload), one at a time, shrunk to at most 1920 px while
  // decoding: a 4096x4096 photo at full size is 50 MB, and nothing needs that many pixels to
  // find a face.
  // `scale` (when given) receives the factor applied (1: none).
  cv::Mat decode(const Upload& upload, double* scale = nullptr);

  // Starts capturing `count` faces from the camera for `name`; 409 while another capture runs.
  std::shared_ptr<CaptureJob> start_capture(const std::string& name, int count, bool create);
  // nullptr when unknown.
  nlohmann::json capture_json(const std::string& id) const;
  nlohmann::json capture_json(const CaptureJob& job) const;

  // The next frame as JPEG after `cursor` (advanced), encoded once per frame for all clients;
  // while the source has produced no frame, a status card. nullptr when nothing new came within
  // `timeout_ms`.
  std::shared_ptr<const std::string> next_stream_jpeg(StreamCursor& cursor, bool annotate,
                                                      int timeout_ms);

  // Switches (or reloads) the embedding model: 404 unknown, 409 when the gallery holds another
  // model's embeddings and `reembed` is false.
  nlohmann::json reload_models(const std::string& embedder, bool reembed);

  nlohmann::json metrics() const;

  std::atomic<int> stream_clients{0};
  std::atomic<std::uint64_t> requests{0};

 private:
  std::shared_ptr<live::LiveEngine> make_engine(const std::string& embedder,
                                                const live::LiveSettings& s) const;
  void housekeeping();
  // A line on the terminal (stderr) when the frame source fails, ends, changes its error or
  // delivers frames again; called by housekeeping every second.
  void report_source();
  // Whether the gallery file changed since the last look (PRAGMA data_version, cheap).
  bool gallery_file_changed();
  void run_capture(std::shared_ptr<CaptureJob> job);

  GlobalOptions global_;
  ServeOptions options_;
  Context ctx_;
  live::SourceSpec source_;
  double started_ = 0;

  mutable std::mutex engine_mu_;
  std::shared_ptr<live::LiveEngine> engine_;
  live::LiveSettings settings_;  // the start-up settings, then those of the last reload
  std::string embedder_, model_id_;
  float default_threshold_ = 0;
  std::mutex reload_mu_;  // one model reload at a time

  mutable std::mutex infer_mu_;
  std::mutex decode_mu_;
  std::unique_ptr<Pipeline> pipeline_;
  std::atomic<bool> pipeline_loaded_{false};  // pipeline_ != nullptr, readable without infer_mu_
  std::string pipeline_model_;
  double pipeline_used_ = 0;

  mutable std::mutex jobs_mu_;
  std::map<std::string, std::shared_ptr<CaptureJob>> jobs_;
  std::thread capture_thread_;
  bool capture_running_ = false;

  std::mutex stream_mu_;  // held while encoding, so a frame is encoded once
  struct Encoded {
    // Identity only: holding the snapshot would keep a frame alive that the engine has dropped.
    std::weak_ptr<const live::Snapshot> snap;
    std::shared_ptr<const std::string> jpeg;
  };
  Encoded encoded_[2];  // raw, annotated

  // A connection kept open only to notice other processes' commits to the gallery.
  std::mutex watch_mu_;
  std::optional<Gallery> watch_;
  std::string watch_error_;  // the last failure logged, so that it is logged once

  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
  std::mutex house_mu_;
  std::condition_variable house_cv_;
  std::thread house_thread_;
  std::atomic<double> cpu_percent_{0};

  // What report_source() last said, about which engine (a model reload starts a new one).
  const void* reported_engine_ = nullptr;
  int reported_failures_ = 0;
  std::string reported_error_;
  bool reported_down_ = false;
};

double now_seconds();  // monotonic

// Adapted embedders (edgeface_xxs_r16, a `*_lr` student, any manifest with a `base`) serve inside
// the recovery of small faces; as the main embedder they would judge large faces with a model
// never meant for them. The models page does not offer them and a reload refuses them.
bool is_adapted_embedder(const ModelInfo& info);

}  // namespace vlrface::cli
