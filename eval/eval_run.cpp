#include "eval_run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <set>

#include "eval_scoring.hpp"
#include "parallel_for.hpp"
#include "vlrface/align.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/models.hpp"
#include "vlrface/pipeline.hpp"

namespace vlrface::evaluation {
namespace {

// Suffix of the native rows run from the dataset's landmarks (RunOptions::native_true_landmarks).
constexpr std::string_view kTrueLandmarks = "@landmarks";
// Suffix of the rows scored against resolution-matched templates (RunOptions::matched_sizes).
constexpr std::string_view kMatched = "+matched";

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

Face face_from_landmarks(const Landmarks& lm) {
  Face f;
  f.landmarks = lm;
  f.score = 1;
  float x0 = lm[0].x, y0 = lm[0].y, x1 = x0, y1 = y0;
  for (const auto& p : lm) {
    x0 = std::min(x0, p.x), y0 = std::min(y0, p.y), x1 = std::max(x1, p.x), y1 = std::max(y1, p.y);
  }
  f.box = cv::Rect2f(x0, y0, x1 - x0, y1 - y0);
  return f;
}

using Pipelines = std::vector<std::unique_ptr<Pipeline>>;

// One evaluation: the full-resolution pass (every row's reference), then the simulated rows,
// then per native size one detection and every recovery path. What the full pass finds (the
// face of each image, its embedding and threshold) is kept for the later rows.
class Run {
 public:
  Run(const ModelStore& store, const EvalDataset& dataset, const RunOptions& o)
      : store_(store), dataset_(dataset), o_(o),
        work_(plan_work(dataset, o.limit_folds, &report_.identification_skipped)),
        n_(work_.files.size()), jobs_(std::max(1, o.jobs)) {}

  Report execute() {
    report_.folds = work_.folds;
    report_.identities = static_cast<int>(work_.identities.size());
    report_.gallery_images = static_cast<int>(work_.gallery.size());
    report_.probes = static_cast<int>(work_.probe.size());
    // Images whose small face is scored: both sides of a pair (LR-LR) and the probes. An image
    // only in the gallery is enrolled at full resolution in every row, so its small versions
    // would be made and never read (on LFW, a third of the native rows' work).
    small_.assign(n_, 0);
    for (const auto& p : work_.pairs) small_[p.a] = small_[p.b] = 1;
    for (const auto& [image, id] : work_.probe) small_[image] = 1;
    // The images compared at full resolution (matched templates are made for them only): the
    // first of each pair and the gallery.
    hr_side_.assign(n_, 0);
    for (const auto& p : work_.pairs) hr_side_[p.a] = 1;
    for (const auto& [image, id] : work_.gallery) hr_side_[image] = 1;

    set_precisions();
    for (int w = 0; w < jobs_; ++w) full_.push_back(make(kResolutionFull, "bicubic", false));
    report_.model_id = full_.front()->model_id();
    full_pass();
    for (const Condition& c : o_.conditions) {
      if (c.kind == Condition::Kind::kSimulated) simulated_row(c);
    }
    for (auto& p : full_) p->set_resolution(kResolutionFull, "bicubic", false);
    make_native_paths();
    for (int px : native_sizes_) native_rows(px);
    compare(report_);
    return std::move(report_);
  }

 private:
  // The faces of each image as the dataset gives them: landmarks.csv, else detection.
  std::optional<Face> dataset_face(const std::string& file) const {
    if (o_.detect) return std::nullopt;
    const auto lm = dataset_.landmarks.find(file);
    if (lm == dataset_.landmarks.end()) return std::nullopt;
    return face_from_landmarks(lm->second);
  }

  cv::Mat image(std::size_t i) const { return load_image(dataset_.root / work_.files[i]); }

  // The embedder's and detector's precision; for int8, the calibration images.
  void set_precisions() {
    const ModelInfo& info = store_.manifest(o_.embedder);
    emb_precision_ = o_.embedder_precision.value_or(info.precision);
    detection_ = o_.detection;
    bool detects = o_.detect;
    for (const auto& f : work_.files) detects = detects || !dataset_.landmarks.count(f);
    bool native = false;
    for (const auto& c : o_.conditions) native = native || c.kind == Condition::Kind::kNative;
    const Precision det_precision = detection_.precision.value_or(
        store_.has(kDefaultDetector) ? store_.manifest(kDefaultDetector).precision
                                     : Precision::kFp32);
    if (emb_precision_ == Precision::kInt8 ||
        ((detects || native) && det_precision == Precision::kInt8)) {
      calibrate();
    }
    report_.embedder_precision = to_string(emb_precision_);
    report_.detector_precision = to_string(det_precision);
  }

  // int8 ranges from images spread evenly over the gallery (else the whole dataset), aligned by
  // a float pipeline.
  void calibrate() {
    std::vector<std::size_t> pool;
    for (const auto& [image, id] : work_.gallery) pool.push_back(image);
    if (pool.empty()) {
      for (std::size_t i = 0; i < n_; ++i) pool.push_back(i);
    }
    const std::size_t count = std::min(pool.size(), static_cast<std::size_t>(o_.calibration_count));
    PipelineConfig pc;
    pc.embedder = o_.embedder;
    pc.resolution = kResolutionFull;
    pc.embedding.precision = Precision::kFp32;
    pc.detector.precision = Precision::kFp32;
    Pipeline aligner(store_, pc);
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t i = pool[k * pool.size() / count];
      const cv::Mat frame = image(i);
      detection_.calibration.push_back(frame);
      const auto f = dataset_face(work_.files[i]);
      const auto r = f ? aligner.process(frame, {*f}) : aligner.process(frame);
      if (!r.empty() && r.front().status == FaceStatus::kOk) {
        calibration_faces_.push_back(r.front().aligned);
      }
    }
    report_.calibration = std::to_string(count) +
                          (work_.gallery.empty() ? " dataset" : " gallery") +
                          " images, evenly spaced";
  }

  // One pipeline per worker at full resolution (it also runs the simulated rows and the native
  // base rows), and one per worker and native recovery path.
  std::unique_ptr<Pipeline> make(int resolution, const std::string& upscaler,
                                 std::optional<bool> adapter) const {
    PipelineConfig pc;
    pc.embedder = o_.embedder;
    pc.resolution = resolution;
    pc.upscaler = upscaler;
    pc.adapter = adapter;
    pc.detector = detection_;
    pc.embedding.precision = emb_precision_;
    if (emb_precision_ == Precision::kInt8) pc.embedding.calibration = calibration_faces_;
    return std::make_unique<Pipeline>(store_, pc);
  }

  // --- the full-resolution pass ----------------------------------------------------------------

  void full_pass() {
    const auto start = Clock::now();
    // Per image, the face that was found (box and landmarks, ~100 bytes), not its aligned crop
    // (37 KB): the later rows read the image again and align it anew, so memory stays flat as
    // datasets grow (13,232 LFW crops would hold ~500 MB) for the cost of a second decode.
    face_of_.assign(n_, std::nullopt);
    full_emb_.assign(n_, {});
    landmarks_.assign(n_, std::nullopt);
    native_px_.assign(n_, 0);
    full_t_.assign(n_, 1.f);  // 1: a face not found is never accepted
    std::vector<char> has_face(n_, 0), detected(n_, 0);
    std::vector<std::string> notes(n_);
    parallel_for(jobs_, n_, "full resolution", o_.progress, [&](int w, std::size_t i) {
      Pipeline& p = *full_[static_cast<std::size_t>(w)];
      const cv::Mat bgr = image(i);
      const auto f = dataset_face(work_.files[i]);
      detected[i] = !f;
      std::vector<FaceResult> found = f ? p.process(bgr, {*f}) : p.process(bgr);
      if (found.empty()) {
        notes[i] = "no face found";
        return;
      }
      const auto largest = std::max_element(
          found.begin(), found.end(),
          [](const auto& a, const auto& b) { return a.face.box.area() < b.face.box.area(); });
      if (largest->status != FaceStatus::kOk) {
        notes[i] = largest->note;  // landmarks too close together: a face too small to align
        return;
      }
      has_face[i] = 1;
      face_of_[i] = largest->face;
      full_emb_[i] = largest->embedding;
      landmarks_[i] = largest->face.landmarks;
      native_px_[i] = largest->native_px;
      full_t_[i] = largest->threshold;
    });
    AlignmentReport& al = report_.alignment;
    al.images = static_cast<int>(n_);
    al.forced_detection = o_.detect;
    for (std::size_t i = 0; i < n_; ++i) {
      (detected[i] ? al.from_detector : al.from_landmarks)++;
      if (!has_face[i]) al.no_face.push_back(work_.files[i] + ": " + notes[i]);
    }
    if (al.from_detector > 0) {
      al.detector = full_.front()->detector_name();
      al.approximate = full_.front()->approximate_alignment();
    }
    al.seconds = seconds_since(start);
    for (const auto& p : work_.pairs) {
      report_.pairs_with_missing_face += !has_face[p.a] || !has_face[p.b];
    }
    for (const auto& [image, id] : work_.probe) report_.probes_without_face += !has_face[image];
    ConditionResult r;
    r.condition = {Condition::Kind::kFull, 0, "base"};
    r.seconds = al.seconds;
    score(work_, full_emb_, full_emb_, full_t_, full_t_, true, o_.calibrate_far, r);
    report_.results.push_back(std::move(r));
  }

  // --- simulated rows ---------------------------------------------------------------------------

  void simulated_row(const Condition& c) {
    auto start = Clock::now();
    const std::string up = c.path.substr(0, c.path.find('+'));
    const bool adapter = c.path.find("+adapter") != std::string::npos;
    for (auto& p : full_) p->set_resolution(c.px, up, adapter);
    Embeddings emb(n_);
    Thresholds th(n_, 1.f);
    parallel_for(jobs_, n_, c.label(), o_.progress, [&](int w, std::size_t i) {
      if (!face_of_[i] || !small_[i]) return;
      // The same as shrinking the full pass's aligned crop: Pipeline aligns at 112 px from the
      // same landmarks, then degrades to the row's size.
      const std::vector<FaceResult> r =
          full_[static_cast<std::size_t>(w)]->process(image(i), {*face_of_[i]});
      const FaceResult& f = r.front();
      if (f.status != FaceStatus::kOk) return;
      emb[i] = f.embedding;
      th[i] = f.threshold;
    });
    ConditionResult r;
    r.condition = c;
    score(work_, full_emb_, emb, full_t_, th, false, o_.calibrate_far, r);
    r.seconds = seconds_since(start);
    report_.results.push_back(std::move(r));
    if (o_.matched_sizes.empty()) return;
    // The same small faces against resolution-matched templates. Every simulated face has the
    // row's size, so one template size serves them all; where it is the row's size, an image's
    // template embedding is its own small face's (the same computation), else it is made here.
    start = Clock::now();
    const int s = matched_template_size(o_.matched_sizes, static_cast<float>(c.px));
    std::map<int, Embeddings> at_size{{s, Embeddings(n_)}};
    Embeddings& at = at_size[s];
    parallel_for(jobs_, n_, c.label() + " matched templates", o_.progress,
                 [&](int w, std::size_t i) {
                   if (!face_of_[i] || !hr_side_[i]) return;
                   if (s == c.px && !emb[i].empty()) {
                     at[i] = emb[i];
                     return;
                   }
                   const cv::Mat aligned = align_face(image(i), face_of_[i]->landmarks);
                   at[i] = full_[static_cast<std::size_t>(w)]->embed_small(aligned, s);
                 });
    ConditionResult m;
    m.condition = {c.kind, c.px, c.path + std::string(kMatched)};
    m.lrlr = report_.results.back().lrlr;  // the plain row, pushed just above
    if (m.lrlr) m.lrlr->product.reset();
    score_matched(work_, full_emb_, emb, at_size, std::vector<int>(n_, s), o_.calibrate_far, m);
    m.seconds = seconds_since(start);
    report_.results.push_back(std::move(m));
  }

  // --- native rows: per size, detect once, then every recovery path ---------------------------

  void make_native_paths() {
    for (const Condition& c : o_.conditions) {
      if (c.kind != Condition::Kind::kNative) continue;
      native_sizes_.insert(c.px);
      if (c.path == "base" || paths_.count(c.path)) continue;
      auto& v = paths_[c.path];
      for (int w = 0; w < jobs_; ++w) {
        if (c.path == "auto") {
          v.push_back(make(kResolutionAuto, "auto", std::nullopt));
        } else {
          v.push_back(make(kResolutionAuto, c.path.substr(0, c.path.find('+')),
                           c.path.find("+adapter") != std::string::npos));
        }
      }
    }
  }

  Pipeline& pipeline(const std::string& path, std::size_t worker) {
    return path == "base" ? *full_[worker] : *paths_.at(path)[worker];
  }

  // Whether the row of `path` at `px` was asked for (base always: it is the reference).
  bool asked(int px, const std::string& path) const {
    return path == "base" ||
           std::any_of(o_.conditions.begin(), o_.conditions.end(), [&](const Condition& c) {
             return c.kind == Condition::Kind::kNative && c.px == px && c.path == path;
           });
  }

  // What one native size measured, per path name (a path, or a path with kTrueLandmarks).
  struct Native {
    int px = 0;
    std::vector<std::string> names;
    std::map<std::string, Embeddings> emb;
    std::map<std::string, Thresholds> th;
    std::map<std::string, std::vector<std::string>> used;  // what recovered each face
    std::vector<char> found;
    std::vector<float> error, measured;
    double seconds = 0;
  };

  // A row of path `name` (labelled `label`): the images scored, the faces found, their size
  // error and what recovered them.
  ConditionResult native_row(const Native& nv, const std::string& name, const std::string& label,
                             double secs) const {
    ConditionResult r;
    r.condition = {Condition::Kind::kNative, nv.px, label};
    r.seconds = secs;
    double err = 0;
    const auto& used = nv.used.at(name);
    for (std::size_t i = 0; i < n_; ++i) {
      r.images += landmarks_[i] && small_[i];
      r.found += nv.found[i];
      if (nv.found[i]) err += nv.error[i];
      if (!used[i].empty()) r.recoveries[used[i]]++;
    }
    r.native_px_error = r.found ? err / r.found : 0;
    return r;
  }

  void native_rows(int px) {
    const Native nv = native_pass(px);
    for (const auto& name : nv.names) {
      ConditionResult r =
          native_row(nv, name, name, nv.seconds / static_cast<double>(nv.names.size()));
      score(work_, full_emb_, nv.emb.at(name), full_t_, nv.th.at(name), false, o_.calibrate_far,
            r);
      const bool oracle = name.ends_with(kTrueLandmarks);
      if (asked(px, oracle ? name.substr(0, name.size() - kTrueLandmarks.size()) : name)) {
        report_.results.push_back(std::move(r));
      }
    }
    if (!o_.matched_sizes.empty()) native_matched_rows(nv);
  }

  // Every image shrunk whole so its face is `px` wide, put in a camera-sized frame, detected
  // once, and recovered and embedded on every path.
  Native native_pass(int px) {
    const auto start = Clock::now();
    Native nv;
    nv.px = px;
    nv.names = {"base"};
    for (const auto& [name, v] : paths_) nv.names.push_back(name);
    if (o_.native_true_landmarks) {
      const std::size_t detected = nv.names.size();
      for (std::size_t k = 0; k < detected; ++k) {
        nv.names.push_back(nv.names[k] + std::string(kTrueLandmarks));
      }
    }
    for (const auto& name : nv.names) {
      nv.emb[name].resize(n_);
      nv.th[name].assign(n_, 1.f);
      nv.used[name].resize(n_);
    }
    nv.found.assign(n_, 0);
    nv.error.assign(n_, 0);
    nv.measured.assign(n_, 0);
    parallel_for(jobs_, n_, std::to_string(px) + " px native", o_.progress,
                 [&](int w, std::size_t i) { native_face(nv, static_cast<std::size_t>(w), i); });
    nv.seconds = seconds_since(start);
    return nv;
  }

  void native_face(Native& nv, std::size_t w, std::size_t i) {
    if (!landmarks_[i] || !small_[i]) return;
    const NativeFrame f = make_native_frame(image(i), native_px_[i], nv.px, o_.native);
    cv::Point2f expected(0, 0);
    for (const auto& p : *landmarks_[i]) expected += f.map(p) * 0.2f;
    // The detection nearest to where the face was placed, if near enough to be it.
    const std::vector<Face> faces = full_[w]->detector().detect(f.frame);
    const Face* best = nearest_face(faces, expected, std::max(4.0, 0.6 * nv.px));
    if (!best) return;
    nv.found[i] = 1;
    nv.measured[i] = native_size(best->landmarks);
    nv.error[i] = std::abs(nv.measured[i] / static_cast<float>(nv.px) - 1.f);
    // The same face with the dataset's landmarks where the detector put its own.
    Face truth = *best;
    for (std::size_t k = 0; k < truth.landmarks.size(); ++k) {
      truth.landmarks[k] = f.map((*landmarks_[i])[k]);
    }
    for (const auto& name : nv.names) {
      const bool oracle = name.ends_with(kTrueLandmarks);
      const std::string path = oracle ? name.substr(0, name.size() - kTrueLandmarks.size()) : name;
      const std::vector<FaceResult> r = pipeline(path, w).process(f.frame, {oracle ? truth : *best});
      const FaceResult& face = r.front();
      if (face.status != FaceStatus::kOk) continue;
      nv.emb[name][i] = face.embedding;
      nv.th[name][i] = face.threshold;
      nv.used[name][i] = face.working_px
                             ? std::to_string(face.working_px) + " px " + face.recovery
                             : face.recovery;
    }
  }

  // The same native faces against resolution-matched templates, each face's template size the
  // nearest to its measured size.
  void native_matched_rows(const Native& nv) {
    const auto start = Clock::now();
    std::vector<int> template_px(n_, 0);
    std::set<int> needed;
    for (std::size_t i = 0; i < n_; ++i) {
      if (!nv.found[i]) continue;
      template_px[i] = matched_template_size(o_.matched_sizes, nv.measured[i]);
      needed.insert(template_px[i]);
    }
    std::vector<std::string> plain;
    for (const auto& name : nv.names) {
      if (!name.ends_with(kTrueLandmarks)) plain.push_back(name);
    }
    std::map<std::string, std::map<int, Embeddings>> at_size;
    for (const auto& name : plain) {
      for (int s : needed) at_size[name][s].resize(n_);
    }
    parallel_for(jobs_, n_, std::to_string(nv.px) + " px matched templates", o_.progress,
                 [&](int w, std::size_t i) {
                   if (!hr_side_[i] || !face_of_[i]) return;
                   const cv::Mat aligned = align_face(image(i), face_of_[i]->landmarks);
                   for (const auto& name : plain) {
                     Pipeline& p = pipeline(name, static_cast<std::size_t>(w));
                     for (int s : needed) at_size[name][s][i] = p.embed_small(aligned, s);
                   }
                 });
    const double matched_seconds = seconds_since(start);
    for (const auto& name : plain) {
      if (!asked(nv.px, name)) continue;
      ConditionResult r = native_row(nv, name, name + std::string(kMatched),
                                     nv.seconds / static_cast<double>(nv.names.size()) +
                                         matched_seconds / static_cast<double>(plain.size()));
      for (const auto& plain_row : report_.results) {  // LR-LR: the plain row's
        const Condition& c = plain_row.condition;
        if (c.kind == Condition::Kind::kNative && c.px == nv.px && c.path == name) {
          r.lrlr = plain_row.lrlr;
        }
      }
      if (r.lrlr) r.lrlr->product.reset();
      score_matched(work_, full_emb_, nv.emb.at(name), at_size[name], template_px,
                    o_.calibrate_far, r);
      report_.results.push_back(std::move(r));
    }
  }

  const ModelStore& store_;
  const EvalDataset& dataset_;
  const RunOptions& o_;
  Report report_;
  const Work work_;
  const std::size_t n_;
  const int jobs_;
  std::vector<char> small_, hr_side_;

  Precision emb_precision_ = Precision::kFp32;
  DetectorOptions detection_;
  std::vector<cv::Mat> calibration_faces_;
  Pipelines full_;
  std::map<std::string, Pipelines> paths_;  // per native recovery path, one per worker
  std::set<int> native_sizes_;

  // What the full-resolution pass found, per image.
  std::vector<std::optional<Face>> face_of_;
  Embeddings full_emb_;
  std::vector<std::optional<Landmarks>> landmarks_;
  std::vector<float> native_px_;
  Thresholds full_t_;
};

}  // namespace

Report run(const ModelStore& store, const EvalDataset& dataset, const RunOptions& o) {
  return Run(store, dataset, o).execute();
}

}  // namespace vlrface::evaluation
