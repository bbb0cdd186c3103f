// live/live_engine.hpp — the live recognition loop: latest frame from a source, every face
// detected, aligned, (degraded,) upscaled, embedded, matched, tracked and voted; results
// published as immutable snapshots for any number of readers (the web server).
//
// Usage:
//   vlrface::live::LiveEngine engine(store, gallery_path, settings, spec);
//   engine.start();                       // capture, detection and recognition threads
//   auto snap = engine.snapshot();        // shared_ptr<const Snapshot>, never blocks long
//   engine.update_settings(s);            // resolution switch reloads only the upscaler
//   engine.reload_gallery();              // after the gallery file changed
// A source that fails or disappears is reopened with exponential back-off (0.5 s .. 10 s); its
// state is in Snapshot::source_state. Only the latest frame is kept (no queue of stale frames).
// Thread safety: all public methods may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "frame_source.hpp"
#include "vlrface/match.hpp"
#include "vlrface/pipeline.hpp"

namespace vlrface {
class ModelStore;
}

namespace vlrface::live {

struct LiveSettings {
  int resolution = 16;                // simulate: 16, 24, 32 (any 4..111; 0: full); native: unused
  // "native": each face recovered from its own size (Pipeline's auto mode: small faces through
  // the upscaler and the low-resolution student, faces above the cut-off as they are);
  // "simulate": every face shrunk to `resolution` first, to see what a distant face would give.
  std::string mode = "native";
  std::string upscaler = "auto";      // "auto" (chosen on validation per size), "dsr", "bicubic"
  std::string adapter = "auto";       // the adapted EdgeFace (low-resolution student): auto, on, off
  std::string task = "identify";      // "identify" (1:N) or "verify" (1:1 against verify_name)
  std::string verify_name;
  float threshold = -2;               // < -1: each face's calibrated threshold
};

struct LiveFace {
  std::int64_t track_id = 0;
  cv::Rect2f box;
  bool too_small = false;
  std::optional<std::string> name;    // voted decision
  float similarity = 0;               // mean of the track's votes for `name` (see track.hpp)
  std::vector<Candidate> top;         // this frame's top 5 (verify: the one person)
  float native_px = 0;                // the face's size in the frame (pipeline.hpp)
  int working_px = 0;                 // the size recovery started from; 0: none
  std::string recovery;               // "base", "bicubic+adapter", ...
  float threshold = 0;                // what this face was judged with
  cv::Mat lowres;                     // the low-resolution input the embedder path started from
  cv::Mat upscaled;                   // what the embedder saw (112x112)
};

struct Snapshot {
  std::uint64_t frame_number = 0;
  double timestamp = 0;               // seconds since the engine started
  cv::Mat frame;                      // the processed frame (BGR); empty while opening/retrying
  std::vector<LiveFace> faces;
  StageTimes times;                   // of this frame
  double fps = 0;                     // processed frames per second (moving average)
  double latency_ms = 0;              // capture of this frame to its publication
  // Frames between capture and publication at once: 2 when detection of the next frame overlaps
  // recognition of this one (more than one inference thread), else 1. With 2, detect_ms is the
  // time of a stage that ran beside the others, not a share of the frame time.
  int pipeline_depth = 1;
  // "stopped" (before start / after stop), "opening", "running", "retrying in 2.0 s: <error>",
  // "ended" (a video file or folder without loop played to its end; the last frame stays).
  std::string source_state;
  std::string source;                 // SourceSpec::describe()
  // Since when the source has delivered no frames because it failed or ended (nullopt while
  // it runs, and while it opens for the first time), why (the last error, or how it ended),
  // and how many times it went down since start(): a watcher that polls sees every failure,
  // even one shorter than its polling interval.
  std::optional<std::chrono::system_clock::time_point> source_down_since;
  std::string source_error;
  int source_failures = 0;
};

class LiveEngine {
 public:
  // Loads the embedder and detector and reads the gallery (created when missing); throws Error
  // for a missing model, another model's gallery or invalid settings. Opens no source yet.
  LiveEngine(const ModelStore& store, std::filesystem::path gallery, LiveSettings settings,
             SourceSpec source, std::string embedder = "edgeface_xxs");
  ~LiveEngine();  // stops the threads

  void start();  // no-op when running; may follow stop()
  void stop();   // joins both threads; returns within a frame's processing time
  // Never null: before the first frame, a snapshot with an empty frame and the source state.
  std::shared_ptr<const Snapshot> snapshot() const;
  // Waits until a snapshot with frame_number > `after` exists or the timeout passes; a change
  // of source_state alone publishes a snapshot with the same frame_number and does not wake it.
  std::shared_ptr<const Snapshot> wait_snapshot(std::uint64_t after, int timeout_ms) const;

  LiveSettings settings() const;
  // Error("live", ...) for invalid values (a verify_name not enrolled, a DSR model missing, ...);
  // applied from the next processed frame, which also clears the tracks' votes.
  void update_settings(const LiveSettings& s);
  void reload_gallery();  // Error("gallery", ...) when the file cannot be read
  // The gallery's templates as the engine matches against them now (never null): requests can
  // match with it instead of reading the gallery into memory once more.
  std::shared_ptr<const Matcher> matcher() const;
  // The threshold used while LiveSettings::threshold < -1 for a face of `px` on the current
  // settings (calibrated per recovery path and size; simulate: the simulated size).
  float default_threshold(int px = 16) const;

  // Capture for enrolment: collects up to `count` aligned faces over the next frames, keeping
  // only sharp, frontal, large enough single faces; `progress(done, count)` is called per kept
  // face, on the calling thread. Returns the aligned 112x112 faces (possibly fewer after
  // `timeout_ms`, or at stop()). Error("live", ...) when the engine is not running or another
  // capture is in progress.
  std::vector<cv::Mat> capture_faces(int count, int timeout_ms,
                                     const std::function<void(int, int)>& progress = {});

  // Runs `f` with the engine's own networks between two frames (the processing thread waits
  // meanwhile), so that one-off requests (an uploaded photo, enrolment) need no second copy of
  // the models; a caller waits at most for the frame in progress. `f` may change the pipeline's resolution and upscaler: they are put back
  // afterwards (also when `f` throws). The detector is the live one (frames up to 1920 px are
  // detected at full size): shrink large images first. Works whether or not the engine is
  // running; calls are serialised with each other and with frame processing. Keep `f` short:
  // the live view waits for it.
  void with_models(const std::function<void(Pipeline&, Detector&)>& f);

  // Called on the processing thread with each frame's snapshot (the tracker's voted names in
  // it) and the templates the frame was matched against, before the snapshot is published:
  // events (events/live_events.hpp) are decided here, once per track rather than per frame.
  // Keep it quick (queue, never send): the next frame waits. An exception it throws is
  // swallowed (the frame is still published). Empty: none. May be set while running.
  using FrameListener =
      std::function<void(const Snapshot&, const std::shared_ptr<const Matcher>&)>;
  void set_frame_listener(FrameListener listener);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlrface::live
