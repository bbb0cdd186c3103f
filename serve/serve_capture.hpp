// Enrolment from the camera: a capture job takes `count` usable faces from the live engine,
// checks that they are one person (and says who else they resemble), embeds them at full
// resolution and enrols them. One job at a time, on its own thread; the last 16 are kept for
// GET /api/capture/ID.
//
// Usage:
//   CaptureJobs jobs(engines, inference, gallery_access);
//   auto job = jobs.start("ana", 5, /*create=*/true);   // 409 while another one runs
//   json j = jobs.json_of(job->id);                       // null when unknown
//   jobs.join();                                          // at shutdown, after the engine stopped
// Thread safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "serve_engine.hpp"
#include "serve_inference.hpp"
#include "vlrface/gallery.hpp"
#include "vlrface/match.hpp"

namespace vlrface::serve {

struct CaptureJob {
  std::string id, name;
  int count = 0;
  bool create = true;        // a new person (fails if the name got taken meanwhile)
  std::atomic<int> done{0};  // faces kept so far
  // Guarded by CaptureJobs' mutex:
  std::string state = "capturing";  // capturing | enrolling | done | failed
  std::string error;
  int enrolled = 0;
  double started = 0;
  // Enrolled people the captured faces match (other than `name` itself): enrolled anyway, with
  // a warning that says who and how similar.
  std::vector<Candidate> already_enrolled;
  std::string warning;
};

// How a job reaches the gallery: open it for one change, and say that it changed.
struct GalleryAccess {
  std::function<Gallery()> open;
  std::function<void()> changed;
};

class CaptureJobs {
 public:
  CaptureJobs(const EngineHolder& engines, RequestInference& inference, GalleryAccess gallery)
      : engines_(engines), inference_(inference), gallery_(std::move(gallery)) {}
  ~CaptureJobs() { join(); }
  CaptureJobs(const CaptureJobs&) = delete;
  CaptureJobs& operator=(const CaptureJobs&) = delete;

  // Starts capturing `count` faces from the camera for `name`; 409 while another capture runs.
  std::shared_ptr<CaptureJob> start(const std::string& name, int count, bool create);
  // nullptr when unknown.
  nlohmann::json json_of(const std::string& id) const;
  // Waits for a running job (it ends once the engine has stopped).
  void join();

 private:
  nlohmann::json json_locked(const CaptureJob& job) const;
  void run(std::shared_ptr<CaptureJob> job);

  const EngineHolder& engines_;
  RequestInference& inference_;
  GalleryAccess gallery_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<CaptureJob>> jobs_;
  std::thread thread_;
  bool running_ = false;
};

}  // namespace vlrface::serve
