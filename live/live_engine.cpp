#include "live_engine.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <map>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "face_collector.hpp"
#include "face_decision.hpp"
#include "frame_rate.hpp"
#include "gallery_follower.hpp"
#include "live_settings.hpp"
#include "snapshot_board.hpp"
#include "source_reader.hpp"
#include "vlrface/align.hpp"
#include "vlrface/degrade.hpp"
#include "vlrface/detect.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/models.hpp"
#include "vlrface/track.hpp"
#include "vlrface/upscale.hpp"

namespace vlrface::live {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kTopK = 5;
// The processing thread wakes this often to notice stop() even when no frame arrives.
constexpr auto kPoll = std::chrono::milliseconds(200);
// Frames-per-second is averaged over this much recent time.
constexpr double kFpsWindowS = 2.0;

// Hands memory freed inside the heap back to the system. Loading the networks leaves megabytes
// of freed import buffers in the loading thread's malloc arena, where the processing thread's
// own arena can never reuse them: without this they stay resident for the process's life.
void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace

struct LiveEngine::Impl {
  const ModelStore& store;
  const SourceSpec spec;
  const std::string source_name;
  std::string embedder_name;

  // Settings: written by any thread, applied by the processing thread before its next frame.
  mutable std::mutex settings_mu;
  LiveSettings settings;
  std::uint64_t settings_version = 1;

  // The gallery, swapped whole on reload so that a frame in flight keeps a consistent matcher.
  GalleryFollower gallery;

  // Used by the processing thread once started (constructed before, so model errors throw
  // from the constructor), under models_mu, which with_models() takes too. A mutex alone would
  // let the processing thread, which takes it again right after each frame, starve a borrower:
  // it waits on models_cv while `borrowers` are queued.
  std::mutex models_mu;
  std::condition_variable models_cv;
  // with_models() calls waiting for or holding models_mu; incremented without the mutex,
  // decremented under it (so the processing thread's wait cannot miss the change).
  std::atomic<int> borrowers{0};
  std::unique_ptr<Pipeline> pipeline;
  // The detector has its own lock, taken by the detection thread and by with_models().
  std::mutex detect_mu;
  std::condition_variable detect_cv;
  Detector* detector = nullptr;  // the pipeline's
  Tracker tracker;
  LiveSettings applied;
  std::uint64_t applied_settings = 0, applied_gallery = 0;
  FrameRate frame_rate{kFpsWindowS};
  std::uint64_t processed = 0;

  // The latest captured frame: overwritten, never queued, so processing is never behind. The
  // same mutex guards the hand-over from the detection thread to the recognition thread: at
  // most pipeline_depth() frames are between the two (in_flight), so a detection result is
  // never thrown away.
  std::mutex frame_mu;
  std::condition_variable frame_cv;     // the detection thread waits here
  std::condition_variable detected_cv;  // the recognition thread waits here
  cv::Mat latest;
  std::uint64_t latest_seq = 0, taken_seq = 0;
  double latest_time = 0;
  struct Detected {
    cv::Mat frame;
    double captured_at = 0;
    std::vector<Face> faces;
    double detect_ms = 0;
  };
  std::optional<Detected> detected;
  int in_flight = 0;  // taken by the detection thread, not yet finished by the recogniser

  // Published state: the latest snapshot and the source's state.
  SnapshotBoard board;

  std::mutex run_mu;  // serialises start() and stop()
  std::atomic<bool> stopping{false};
  bool running = false;
  std::thread detect_thread, process_thread;
  Clock::time_point t0 = Clock::now();

  // Enrolment captures (capture_faces), offered every processed frame.
  FaceCollector collector;

  std::mutex listener_mu;  // set_frame_listener() vs the processing thread
  FrameListener listener;

  // The capture thread: every frame read replaces `latest` (declared last: its thread uses the
  // members above).
  SourceReader reader;

  Impl(const ModelStore& s, std::filesystem::path g, LiveSettings st, SourceSpec src,
       const std::string& embedder)
      : store(s),
        spec(std::move(src)),
        source_name(spec.describe()),
        settings(std::move(st)),
        gallery(std::move(g), store.get(embedder).id),
        board(source_name),
        reader(spec, {.frame = [this](cv::Mat f) { on_frame(std::move(f)); },
                      .state = [this](const std::string& state, const std::string& error) {
                        board.set_state(state, error);
                      }}) {
    embedder_name = embedder;
    // The gallery first: SQLite's transient memory is then reused by the networks loaded next
    // instead of adding to the peak on top of them.
    gallery.reload();
    PipelineConfig pc;
    pc.embedder = embedder;
    pc.upscaler = settings.upscaler;
    pc.adapter = parse_adapter_choice(settings.adapter);
    pc.resolution = pipeline_resolution(settings);
    // Simulate mode needs the base EdgeFace for enrolment only: it replaces the adapted one for
    // that while, rather than adding its ~11 MB to the live view's memory for good. (Native
    // mode keeps both once faces of both kinds were seen: see PipelineConfig::one_embedder.)
    pc.one_embedder = true;
    // Before validate() so an invalid resolution gets the pipeline's own message.
    if (pc.resolution > 0 && pc.resolution >= kAlignedSize) pc.resolution = kResolutionFull;
    if (pc.resolution > 0 && pc.resolution < 4) pc.resolution = kResolutionFull;
    pipeline = std::make_unique<Pipeline>(store, pc);
    // The pipeline's detector, driven by the detection thread so that detection of the next
    // frame overlaps recognition of this one (Pipeline::process(frame, faces)).
    detector = &pipeline->detector();
    validate(settings);
    release_free_memory();
  }

  void validate(const LiveSettings& s) const {
    const auto m = gallery.matcher();
    check_live_settings(s, {.store = store, .embedder = embedder_name, .gallery = m.get(),
                            .gallery_shown = gallery.shown()});
  }

  double now_s() const { return std::chrono::duration<double>(Clock::now() - t0).count(); }

  // Makes a waiter on `cv` see `stopping` even if it checked just before the flag changed.
  template <typename Mutex>
  static void wake(Mutex& mu, std::condition_variable& cv) {
    { std::lock_guard lk(mu); }
    cv.notify_all();
  }

  // --- capture (the reader's thread) ------------------------------------------------------

  void on_frame(cv::Mat f) {
    const double t = now_s();
    {
      std::lock_guard lk(frame_mu);
      latest = std::move(f);
      latest_time = t;
      ++latest_seq;
    }
    frame_cv.notify_one();
  }

  // --- processing thread -------------------------------------------------------------------

  // Detection of the next frame overlaps recognition of the previous one when there is more
  // than one inference thread: YuNet gains little from a second thread within one forward pass
  // (28 -> 24 ms at 640x480 here) and EdgeFace not much more, so two stages side by side use two
  // cores better than each stage using both in turn. With one thread the stages take turns.
  static int pipeline_depth() { return inference_threads() > 1 ? 2 : 1; }
  int depth = 1;  // pipeline_depth() when start() ran: both threads use the same value

  void detect_loop() {
    while (!stopping) {
      Detected d;
      {
        std::unique_lock lk(frame_mu);
        frame_cv.wait_for(
            lk, kPoll, [&] { return stopping || (latest_seq > taken_seq && in_flight < depth); });
        if (stopping) break;
        if (latest_seq <= taken_seq || in_flight >= depth) continue;
        d.frame = std::move(latest);
        latest = cv::Mat();
        taken_seq = latest_seq;
        d.captured_at = latest_time;
        ++in_flight;
      }
      try {
        std::unique_lock det(detect_mu);
        detect_cv.wait(det, [&] { return borrowers.load() == 0; });
        const auto t = Clock::now();
        d.faces = detector->detect(d.frame);
        d.detect_ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
      } catch (const std::exception&) {
        // One bad frame (an OpenCV error on odd input) must not end live processing.
        std::lock_guard lk(frame_mu);
        --in_flight;
        continue;
      }
      {
        std::lock_guard lk(frame_mu);
        // Normally empty: the recogniser takes a result as soon as it is placed. Should it not
        // have been scheduled for a whole detection, the older result gives way to this one.
        if (detected) --in_flight;
        detected = std::move(d);
      }
      detected_cv.notify_one();
    }
  }

  void process_loop() {
    while (!stopping) {
      std::optional<Detected> d;
      {
        std::unique_lock lk(frame_mu);
        detected_cv.wait_for(lk, kPoll, [&] { return stopping || detected.has_value(); });
        if (stopping) break;
        if (!detected) continue;
        d = std::move(detected);
        detected.reset();
      }
      try {
        std::unique_lock models(models_mu);
        models_cv.wait(models, [&] { return borrowers.load() == 0; });
        apply_settings();
        process(*d);
      } catch (const std::exception&) {
        // As in detect_loop(): the next frame is tried afresh.
      }
      {
        std::lock_guard lk(frame_mu);
        --in_flight;
      }
      frame_cv.notify_all();
    }
  }

  void apply_settings() {
    const std::uint64_t gv = gallery.version();
    bool changed = gv != applied_gallery;
    applied_gallery = gv;
    {
      std::lock_guard lk(settings_mu);
      if (settings_version != applied_settings) {
        applied = settings;
        applied_settings = settings_version;
        changed = true;
      }
    }
    if (!changed) return;
    // Loads nothing when resolution, upscaler and adapter stay as they are.
    pipeline->set_resolution(pipeline_resolution(applied), applied.upscaler,
                             parse_adapter_choice(applied.adapter));
    // Votes cast under other settings or another gallery would decide for the new ones.
    tracker.clear_votes();
  }

  void process(const Detected& d) {
    const cv::Mat& frame = d.frame;
    const std::vector<Face>& faces = d.faces;
    auto s = std::make_shared<Snapshot>();
    s->frame = frame;
    s->timestamp = d.captured_at;
    s->times.detect_ms = d.detect_ms;
    const std::shared_ptr<const Matcher> m = gallery.matcher();
    std::vector<cv::Rect2f> boxes;
    std::vector<Observation> obs;
    // The one face path: alignment, recovery from each face's own size, embedding.
    const std::vector<FaceResult> results = pipeline->process(frame, faces);
    const StageTimes& pt = pipeline->last_times();
    s->times.align_ms = pt.align_ms;
    s->times.degrade_ms = pt.degrade_ms;
    s->times.upscale_ms = pt.upscale_ms;
    s->times.embed_ms = pt.embed_ms;
    s->faces.reserve(results.size());
    for (const FaceResult& r : results) {
      FaceDecision fd = decide_face(r, applied, *m, kTopK);
      boxes.push_back(r.face.box);
      obs.push_back(std::move(fd.observation));
      s->faces.push_back(std::move(fd.face));
    }
    const std::vector<std::int64_t> ids = tracker.update(boxes, obs);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const TrackState& ts = tracker.state(ids[i]);
      s->faces[i].track_id = ids[i];
      s->faces[i].name = ts.name;
      s->faces[i].similarity = ts.similarity;
    }
    collector.offer(results, processed + 1);

    const double done = now_s();
    s->fps = frame_rate.add(done);
    s->frame_number = ++processed;
    s->latency_ms = (done - d.captured_at) * 1000;
    s->pipeline_depth = depth;
    {
      std::lock_guard lk(listener_mu);
      if (listener) {
        try {
          listener(*s, m);
        } catch (const std::exception&) {
          // An event that cannot be made must not cost the live view its frame.
        }
      }
    }
    board.publish(std::move(s));
  }

};

LiveEngine::LiveEngine(const ModelStore& store, std::filesystem::path gallery,
                       LiveSettings settings, SourceSpec source, std::string embedder)
    : impl_(std::make_unique<Impl>(store, std::move(gallery), std::move(settings),
                                   std::move(source), embedder)) {}

LiveEngine::~LiveEngine() {
  stop();
}

void LiveEngine::start() {
  std::lock_guard lk(impl_->run_mu);
  if (impl_->running) return;
  Impl& d = *impl_;
  d.stopping = false;
  d.t0 = Clock::now();
  d.frame_rate.reset();
  d.board.forget_failure();
  d.board.set_state("opening");
  d.collector.open();
  d.depth = Impl::pipeline_depth();
  d.process_thread = std::thread([&d] { d.process_loop(); });
  d.detect_thread = std::thread([&d] { d.detect_loop(); });
  d.reader.start();
  d.running = true;
}

void LiveEngine::stop() {
  std::lock_guard lk(impl_->run_mu);
  Impl& d = *impl_;
  if (!d.running) return;
  d.stopping = true;
  d.reader.stop();  // interrupts a blocked read
  Impl::wake(d.frame_mu, d.frame_cv);
  Impl::wake(d.frame_mu, d.detected_cv);
  d.collector.close();
  d.detect_thread.join();
  d.process_thread.join();
  {
    std::lock_guard fl(d.frame_mu);
    d.latest = cv::Mat();
    d.taken_seq = d.latest_seq;
    d.detected.reset();
    d.in_flight = 0;
  }
  d.running = false;
  d.board.set_state("stopped");
}

std::shared_ptr<const Snapshot> LiveEngine::snapshot() const {
  return impl_->board.latest();
}

std::shared_ptr<const Snapshot> LiveEngine::wait_snapshot(std::uint64_t after,
                                                          int timeout_ms) const {
  return impl_->board.wait(after, timeout_ms);
}

LiveSettings LiveEngine::settings() const {
  std::lock_guard lk(impl_->settings_mu);
  return impl_->settings;
}

void LiveEngine::update_settings(const LiveSettings& s) {
  impl_->validate(s);
  std::lock_guard lk(impl_->settings_mu);
  impl_->settings = s;
  ++impl_->settings_version;
}

void LiveEngine::reload_gallery() {
  impl_->gallery.reload();
  release_free_memory();  // SQLite's buffers, freed in the caller's arena
}

std::shared_ptr<const Matcher> LiveEngine::matcher() const {
  return impl_->gallery.matcher();
}

float LiveEngine::default_threshold(int px) const {
  const LiveSettings s = settings();
  return threshold_for(impl_->store, impl_->embedder_name, pipeline_resolution(s),
                       s.upscaler, parse_adapter_choice(s.adapter), px);
}

std::vector<cv::Mat> LiveEngine::capture_faces(int count, int timeout_ms,
                                               const std::function<void(int, int)>& progress) {
  Impl& d = *impl_;
  if (count <= 0) return {};
  {
    std::lock_guard lk(d.run_mu);
    if (!d.running) throw Error("live", "cannot capture faces: the engine is not running");
  }
  return d.collector.collect(count, timeout_ms, progress);
}

void LiveEngine::set_frame_listener(FrameListener listener) {
  std::lock_guard lk(impl_->listener_mu);
  impl_->listener = std::move(listener);
}

void LiveEngine::with_models(const std::function<void(Pipeline&, Detector&)>& f) {
  Impl& d = *impl_;
  ++d.borrowers;  // neither stage starts a new frame from now on
  // Waits for the frames in progress, if any; std::lock takes both without deadlock.
  std::unique_lock det(d.detect_mu, std::defer_lock);
  std::unique_lock lk(d.models_mu, std::defer_lock);
  std::lock(det, lk);
  struct Release {
    Impl& d;
    std::unique_lock<std::mutex>& det;
    std::unique_lock<std::mutex>& lk;
    ~Release() {
      --d.borrowers;
      det.unlock();
      lk.unlock();
      d.detect_cv.notify_all();
      d.models_cv.notify_all();
    }
  } release{d, det, lk};
  Pipeline& p = *d.pipeline;
  struct Restore {  // what the live view asked for, put back (a no-op when unchanged)
    Pipeline& p;
    const int resolution;
    const std::string upscaler;
    const std::optional<bool> adapter;
    ~Restore() {
      try {
        p.set_resolution(resolution, upscaler, adapter);
      } catch (const std::exception&) {
        // It worked before; should it fail now, apply_settings() retries on the next change.
      }
    }
  } restore{p, p.config().resolution, p.config().upscaler, p.config().adapter};
  f(p, *d.detector);
}

}  // namespace vlrface::live
