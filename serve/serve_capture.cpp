#include "serve_capture.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "capture_check.hpp"
#include "serve_auth.hpp"
#include "serve_http.hpp"

using nlohmann::json;

namespace vlrface::serve {
namespace {

constexpr std::size_t kKeptCaptureJobs = 16;

std::string fmt4(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", x);
  return buf;
}

}  // namespace

std::shared_ptr<CaptureJob> CaptureJobs::start(const std::string& name, int count, bool create) {
  std::lock_guard lock(mu_);
  if (running_) throw HttpError(409, "a capture is already running; try again when done");
  if (thread_.joinable()) thread_.join();
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
  running_ = true;
  thread_ = std::thread([this, job] { run(job); });
  return job;
}

void CaptureJobs::join() {
  std::thread t;
  {
    std::lock_guard lock(mu_);
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

void CaptureJobs::run(std::shared_ptr<CaptureJob> job) {
  const auto finish = [&](const std::string& state, const std::string& error, int enrolled) {
    std::lock_guard lock(mu_);
    job->state = state;
    job->error = error;
    job->enrolled = enrolled;
    running_ = false;
  };
  try {
    // Enough time for a person to step in front of the camera and hold still.
    const int timeout_ms = std::min(120000, 10000 + job->count * 1500);
    const auto faces = engines_.live()->capture_faces(job->count, timeout_ms,
                                                      [&](int done, int) { job->done = done; });
    if (faces.empty()) {
      finish("failed",
             "no usable face in " + std::to_string(timeout_ms / 1000) +
                 " s: one sharp, frontal face, large enough, must be in view",
             0);
      return;
    }
    {
      std::lock_guard lock(mu_);
      job->state = "enrolling";
    }
    std::vector<EnrollFace> enrol;
    inference_.with_pipeline(0, [&](RequestModels& m) {
      for (const cv::Mat& f : faces) enrol.push_back({f, m.embed_full(f), "camera"});
    });
    // Whoever was in view is enrolled: refuse a capture of several people, and say when the
    // person is enrolled already (under another name). The embeddings are full-resolution ones,
    // so the threshold in use is the model's full-resolution one, or the user's setting.
    const auto eng = engines_.live();
    const live::LiveSettings ls = eng->settings();
    const float threshold = ls.threshold >= -1 ? ls.threshold : engines_.default_threshold();
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
        who += (who.empty() ? "" : ", ") + c.name + " (similarity " + fmt4(c.similarity) + ")";
      }
      std::lock_guard lock(mu_);
      job->already_enrolled = known;
      job->warning = "these faces match " + who + ", already enrolled (threshold " +
                     fmt4(threshold) + "): the same person under two names? Enrolled as '" +
                     job->name + "' anyway; remove one if so";
    }
    Gallery g = gallery_.open();
    if (job->create && g.has_person(job->name)) {
      finish("failed", "the name '" + job->name + "' was taken meanwhile", 0);
      return;
    }
    if (!job->create && !g.has_person(job->name)) {
      finish("failed", "'" + job->name + "' was removed meanwhile", 0);
      return;
    }
    g.enroll(job->name, enrol);
    gallery_.changed();
    finish("done", "", static_cast<int>(enrol.size()));
  } catch (const std::exception& e) {
    spdlog::warn("serve: capture for '{}': {}", job->name, e.what());
    finish("failed", e.what(), 0);
  }
}

json CaptureJobs::json_locked(const CaptureJob& job) const {
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

json CaptureJobs::json_of(const std::string& id) const {
  std::lock_guard lock(mu_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return nullptr;
  return json_locked(*it->second);
}

}  // namespace vlrface::serve
