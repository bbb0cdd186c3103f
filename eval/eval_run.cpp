#include "eval_run.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <exception>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "eval_scoring.hpp"
#include "vlrface/align.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/models.hpp"
#include "vlrface/pipeline.hpp"

namespace fs = std::filesystem;

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

std::vector<std::string> split_list(const std::string& text, const char* option) {
  std::vector<std::string> out;
  std::istringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    const auto b = item.find_first_not_of(' ');
    const auto e = item.find_last_not_of(' ');
    if (b == std::string::npos) {
      throw Error("cli", std::string(option) + ": empty item in '" + text + "'");
    }
    out.push_back(item.substr(b, e - b + 1));
  }
  if (out.empty()) throw Error("cli", std::string(option) + " needs at least one value");
  return out;
}

int parse_size(const std::string& r, const char* option) {
  int v = 0;
  const auto [end, ec] = std::from_chars(r.data(), r.data() + r.size(), v);
  if (ec != std::errc() || end != r.data() + r.size() || v < 4 || v >= kAlignedSize) {
    throw Error("cli", std::string(option) + ": '" + r + "' is not a size from 4 to 111");
  }
  return v;
}

bool is_recovery(const std::string& p) {
  return p == "bicubic" || p == "dsr" || p == "bicubic+adapter" || p == "dsr+adapter";
}

// Runs task(worker, i) for every i < n on `workers` threads; the first error stops the others
// and is rethrown here, so a broken image fails the run with its own message.
template <class Task>
void parallel_for(int workers, std::size_t n, const std::string& label, const RunOptions& o,
                  Task task) {
  std::atomic<std::size_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (std::size_t i = next++; i < n && !failed; i = next++) {
        try {
          task(w, i);
        } catch (...) {
          const std::lock_guard lock(error_mutex);
          if (!error) error = std::current_exception();
          failed = true;
        }
        ++done;
      }
    });
  }
  for (int tick = 0; done < n && !failed; ++tick) {
    if (o.progress && tick % 10 == 0) o.progress(label, done, n);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& t : threads) t.join();
  if (o.progress) o.progress(label, n, n);
  if (error) std::rethrow_exception(error);
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

}  // namespace

std::string Condition::kind_name() const {
  return kind == Kind::kFull ? "full" : kind == Kind::kSimulated ? "simulated" : "native";
}

std::string Condition::label() const {
  if (kind == Kind::kFull) return "112 px";
  return std::to_string(px) + " px " + (kind == Kind::kSimulated ? "sim " : "native ") + path;
}

std::vector<Condition> parse_simulated(const std::string& resolutions, const std::string& paths) {
  std::vector<std::string> ups;
  for (const auto& u : split_list(paths, "--upscaler")) {
    if (!is_recovery(u)) {
      throw Error("cli", "--upscaler: '" + u + "' is not bicubic, dsr, bicubic+adapter or dsr+adapter");
    }
    if (std::find(ups.begin(), ups.end(), u) == ups.end()) ups.push_back(u);
  }
  std::vector<Condition> out;
  std::set<int> seen;
  for (const auto& r : split_list(resolutions, "--res")) {
    const int px = r == "full" || r == "112" ? 0 : parse_size(r, "--res");
    if (!seen.insert(px).second) continue;
    if (px == 0) {
      out.push_back({Condition::Kind::kFull, 0, "base"});
    } else {
      for (const auto& u : ups) out.push_back({Condition::Kind::kSimulated, px, u});
    }
  }
  return out;
}

std::vector<Condition> parse_native(const std::string& sizes, const std::string& paths) {
  std::vector<std::string> ps;
  for (const auto& p : split_list(paths, "--native-paths")) {
    if (p != "base" && p != "auto" && !is_recovery(p)) {
      throw Error("cli", "--native-paths: '" + p +
                             "' is not base, auto, bicubic, dsr, bicubic+adapter or dsr+adapter");
    }
    if (std::find(ps.begin(), ps.end(), p) == ps.end()) ps.push_back(p);
  }
  // The base row is every native row's reference: always there, first.
  ps.erase(std::remove(ps.begin(), ps.end(), "base"), ps.end());
  ps.insert(ps.begin(), "base");
  std::vector<Condition> out;
  std::set<int> seen;
  for (const auto& s : split_list(sizes, "--native")) {
    const int px = parse_size(s, "--native");
    if (!seen.insert(px).second) continue;
    for (const auto& p : ps) out.push_back({Condition::Kind::kNative, px, p});
  }
  return out;
}

std::vector<int> parse_sizes(const std::string& sizes, const char* option) {
  std::set<int> out;
  for (const auto& s : split_list(sizes, option)) out.insert(parse_size(s, option));
  return {out.begin(), out.end()};
}

int matched_template_size(const std::vector<int>& sizes, float px) {
  if (sizes.empty()) throw Error("eval", "no template sizes to match a small face with");
  int best = sizes.front();
  for (int s : sizes) {
    const double d = std::abs(std::log(s / static_cast<double>(px)));
    const double b = std::abs(std::log(best / static_cast<double>(px)));
    if (d < b || (d == b && s < best)) best = s;
  }
  return best;
}

Report run(const ModelStore& store, const EvalDataset& dataset, const RunOptions& o) {
  Report report;
  const Work work = plan_work(dataset, o.limit_folds, &report.identification_skipped);
  const std::size_t n = work.files.size();
  // Images whose small face is scored: both sides of a pair (LR-LR) and the probes. An image
  // only in the gallery is enrolled at full resolution in every row, so its small versions
  // would be made and never read (on LFW, a third of the native rows' work).
  std::vector<char> small(n, 0);
  for (const auto& p : work.pairs) small[p.a] = small[p.b] = 1;
  for (const auto& [image, id] : work.probe) small[image] = 1;
  const int jobs = std::max(1, o.jobs);
  report.folds = work.folds;
  report.identities = static_cast<int>(work.identities.size());
  report.gallery_images = static_cast<int>(work.gallery.size());
  report.probes = static_cast<int>(work.probe.size());

  // The faces of each image as the dataset gives them: landmarks.csv, else detection.
  auto dataset_face = [&](const std::string& file) -> std::optional<Face> {
    if (o.detect) return std::nullopt;
    const auto lm = dataset.landmarks.find(file);
    if (lm == dataset.landmarks.end()) return std::nullopt;
    return face_from_landmarks(lm->second);
  };

  const ModelInfo& info = store.manifest(o.embedder);
  const Precision emb_precision = o.embedder_precision.value_or(info.precision);
  DetectorOptions detection = o.detection;
  bool detects = o.detect;
  for (const auto& f : work.files) detects = detects || !dataset.landmarks.count(f);
  bool native = false;
  for (const auto& c : o.conditions) native = native || c.kind == Condition::Kind::kNative;
  const Precision det_precision = detection.precision.value_or(
      store.has(kDefaultDetector) ? store.manifest(kDefaultDetector).precision : Precision::kFp32);
  std::vector<cv::Mat> calibration_faces;
  if (emb_precision == Precision::kInt8 || ((detects || native) && det_precision == Precision::kInt8)) {
    // int8 ranges from images spread evenly over the gallery (else the whole dataset), aligned
    // by a float pipeline.
    std::vector<std::size_t> pool;
    for (const auto& [image, id] : work.gallery) pool.push_back(image);
    if (pool.empty()) {
      for (std::size_t i = 0; i < n; ++i) pool.push_back(i);
    }
    const std::size_t count = std::min(pool.size(), static_cast<std::size_t>(o.calibration_count));
    PipelineConfig pc;
    pc.embedder = o.embedder;
    pc.resolution = kResolutionFull;
    pc.embedding.precision = Precision::kFp32;
    pc.detector.precision = Precision::kFp32;
    Pipeline aligner(store, pc);
    for (std::size_t k = 0; k < count; ++k) {
      const std::string& file = work.files[pool[k * pool.size() / count]];
      const cv::Mat frame = load_image(dataset.root / file);
      detection.calibration.push_back(frame);
      const auto f = dataset_face(file);
      const auto r = f ? aligner.process(frame, {*f}) : aligner.process(frame);
      if (!r.empty() && r.front().status == FaceStatus::kOk) calibration_faces.push_back(r.front().aligned);
    }
    report.calibration = std::to_string(count) + (work.gallery.empty() ? " dataset" : " gallery") +
                         " images, evenly spaced";
  }
  report.embedder_precision = to_string(emb_precision);
  report.detector_precision = to_string(det_precision);

  // One pipeline per worker at full resolution (it also runs the simulated rows and the native
  // base rows), and one per worker and native recovery path.
  auto make = [&](int resolution, const std::string& upscaler, std::optional<bool> adapter) {
    PipelineConfig pc;
    pc.embedder = o.embedder;
    pc.resolution = resolution;
    pc.upscaler = upscaler;
    pc.adapter = adapter;
    pc.detector = detection;
    pc.embedding.precision = emb_precision;
    if (emb_precision == Precision::kInt8) pc.embedding.calibration = calibration_faces;
    return std::make_unique<Pipeline>(store, pc);
  };
  std::vector<std::unique_ptr<Pipeline>> full;
  for (int w = 0; w < jobs; ++w) full.push_back(make(kResolutionFull, "bicubic", false));
  report.model_id = full.front()->model_id();

  // --- the full-resolution pass ----------------------------------------------------------------
  auto start = Clock::now();
  // Per image, the face that was found (box and landmarks, ~100 bytes), not its aligned crop
  // (37 KB): the simulated rows read the image again and align it anew, so memory stays flat as
  // datasets grow (13,232 LFW crops would hold ~500 MB) for the cost of a second decode.
  std::vector<std::optional<Face>> face_of(n);
  std::vector<char> has_face(n, 0);
  Embeddings full_emb(n);
  std::vector<std::optional<Landmarks>> landmarks(n);
  std::vector<float> native_px(n, 0);
  Thresholds full_t(n, 1.f);  // 1: a face not found is never accepted
  std::vector<std::string> notes(n);
  std::vector<char> detected(n, 0);
  parallel_for(jobs, n, "full resolution", o, [&](int w, std::size_t i) {
    Pipeline& p = *full[static_cast<std::size_t>(w)];
    const cv::Mat bgr = load_image(dataset.root / work.files[i]);
    const auto f = dataset_face(work.files[i]);
    detected[i] = !f;
    std::vector<FaceResult> found = f ? p.process(bgr, {*f}) : p.process(bgr);
    if (found.empty()) {
      notes[i] = "no face found";
      return;
    }
    const auto largest = std::max_element(found.begin(), found.end(), [](const auto& a, const auto& b) {
      return a.face.box.area() < b.face.box.area();
    });
    if (largest->status != FaceStatus::kOk) {
      notes[i] = largest->note;  // landmarks too close together: a face too small to align
      return;
    }
    has_face[i] = 1;
    face_of[i] = largest->face;
    full_emb[i] = largest->embedding;
    landmarks[i] = largest->face.landmarks;
    native_px[i] = largest->native_px;
    full_t[i] = largest->threshold;
  });
  AlignmentReport& al = report.alignment;
  al.images = static_cast<int>(n);
  al.forced_detection = o.detect;
  for (std::size_t i = 0; i < n; ++i) {
    (detected[i] ? al.from_detector : al.from_landmarks)++;
    if (!has_face[i]) al.no_face.push_back(work.files[i] + ": " + notes[i]);
  }
  if (al.from_detector > 0) {
    al.detector = full.front()->detector_name();
    al.approximate = full.front()->approximate_alignment();
  }
  al.seconds = seconds_since(start);
  for (const auto& p : work.pairs) report.pairs_with_missing_face += !has_face[p.a] || !has_face[p.b];
  for (const auto& [image, id] : work.probe) report.probes_without_face += !has_face[image];
  {
    ConditionResult r;
    r.condition = {Condition::Kind::kFull, 0, "base"};
    r.seconds = al.seconds;
    score(work, full_emb, full_emb, full_t, full_t, true, o.calibrate_far, r);
    report.results.push_back(std::move(r));
  }

  // The images compared at full resolution (matched templates are made for them only): the
  // first of each pair and the gallery.
  std::vector<char> hr_side(n, 0);
  for (const auto& p : work.pairs) hr_side[p.a] = 1;
  for (const auto& [image, id] : work.gallery) hr_side[image] = 1;

  // --- simulated rows -------------------------------------------------------------------------
  for (const Condition& c : o.conditions) {
    if (c.kind != Condition::Kind::kSimulated) continue;
    start = Clock::now();
    const std::string up = c.path.substr(0, c.path.find('+'));
    const bool adapter = c.path.find("+adapter") != std::string::npos;
    for (auto& p : full) p->set_resolution(c.px, up, adapter);
    Embeddings emb(n);
    Thresholds th(n, 1.f);
    parallel_for(jobs, n, c.label(), o, [&](int w, std::size_t i) {
      if (!face_of[i] || !small[i]) return;
      // The same as shrinking the full pass's aligned crop: Pipeline aligns at 112 px from the
      // same landmarks, then degrades to the row's size.
      const std::vector<FaceResult> r = full[static_cast<std::size_t>(w)]->process(
          load_image(dataset.root / work.files[i]), {*face_of[i]});
      const FaceResult& f = r.front();
      if (f.status != FaceStatus::kOk) return;
      emb[i] = f.embedding;
      th[i] = f.threshold;
    });
    ConditionResult r;
    r.condition = c;
    score(work, full_emb, emb, full_t, th, false, o.calibrate_far, r);
    r.seconds = seconds_since(start);
    report.results.push_back(std::move(r));
    if (o.matched_sizes.empty()) continue;
    // The same small faces against resolution-matched templates. Every simulated face has the
    // row's size, so one template size serves them all; where it is the row's size, an image's
    // template embedding is its own small face's (the same computation), else it is made here.
    start = Clock::now();
    const int s = matched_template_size(o.matched_sizes, static_cast<float>(c.px));
    std::map<int, Embeddings> at_size{{s, Embeddings(n)}};
    Embeddings& at = at_size[s];
    parallel_for(jobs, n, c.label() + " matched templates", o, [&](int w, std::size_t i) {
      if (!face_of[i] || !hr_side[i]) return;
      if (s == c.px && !emb[i].empty()) {
        at[i] = emb[i];
        return;
      }
      const cv::Mat aligned = align_face(load_image(dataset.root / work.files[i]), face_of[i]->landmarks);
      at[i] = full[static_cast<std::size_t>(w)]->embed_small(aligned, s);
    });
    ConditionResult m;
    m.condition = {c.kind, c.px, c.path + std::string(kMatched)};
    m.lrlr = report.results.back().lrlr;  // the plain row, pushed just above
    if (m.lrlr) m.lrlr->product.reset();
    score_matched(work, full_emb, emb, at_size, std::vector<int>(n, s), o.calibrate_far, m);
    m.seconds = seconds_since(start);
    report.results.push_back(std::move(m));
  }
  for (auto& p : full) p->set_resolution(kResolutionFull, "bicubic", false);

  // --- native rows: per size, detect once, then every recovery path ---------------------------
  std::map<std::string, std::vector<std::unique_ptr<Pipeline>>> paths;
  std::set<int> sizes;
  for (const Condition& c : o.conditions) {
    if (c.kind != Condition::Kind::kNative) continue;
    sizes.insert(c.px);
    if (c.path == "base" || paths.count(c.path)) continue;
    auto& v = paths[c.path];
    for (int w = 0; w < jobs; ++w) {
      if (c.path == "auto") {
        v.push_back(make(kResolutionAuto, "auto", std::nullopt));
      } else {
        v.push_back(make(kResolutionAuto, c.path.substr(0, c.path.find('+')),
                         c.path.find("+adapter") != std::string::npos));
      }
    }
  }
  for (int px : sizes) {
    start = Clock::now();
    std::vector<std::string> names = {"base"};
    for (const auto& [name, v] : paths) names.push_back(name);
    if (o.native_true_landmarks) {
      const std::size_t detected = names.size();
      for (std::size_t k = 0; k < detected; ++k) names.push_back(names[k] + std::string(kTrueLandmarks));
    }
    std::map<std::string, Embeddings> emb;
    std::map<std::string, Thresholds> th;
    std::map<std::string, std::vector<std::string>> used;
    for (const auto& name : names) {
      emb[name].resize(n);
      th[name].assign(n, 1.f);
      used[name].resize(n);
    }
    std::vector<char> found(n, 0);
    std::vector<float> error(n, 0), measured(n, 0);
    parallel_for(jobs, n, std::to_string(px) + " px native", o, [&](int w, std::size_t i) {
      if (!landmarks[i] || !small[i]) return;
      const std::size_t ws = static_cast<std::size_t>(w);
      const NativeFrame f =
          make_native_frame(load_image(dataset.root / work.files[i]), native_px[i], px, o.native);
      cv::Point2f expected(0, 0);
      for (const auto& p : *landmarks[i]) expected += f.map(p) * 0.2f;
      // The detection nearest to where the face was placed, if near enough to be it.
      const std::vector<Face> faces = full[ws]->detector().detect(f.frame);
      const Face* best = nearest_face(faces, expected, std::max(4.0, 0.6 * px));
      if (!best) return;
      found[i] = 1;
      measured[i] = native_size(best->landmarks);
      error[i] = std::abs(measured[i] / static_cast<float>(px) - 1.f);
      // The same face with the dataset's landmarks where the detector put its own.
      Face truth = *best;
      for (std::size_t k = 0; k < truth.landmarks.size(); ++k) {
        truth.landmarks[k] = f.map((*landmarks[i])[k]);
      }
      for (const auto& name : names) {
        const bool oracle = name.ends_with(kTrueLandmarks);
        const std::string path = oracle ? name.substr(0, name.size() - kTrueLandmarks.size()) : name;
        Pipeline& p = path == "base" ? *full[ws] : *paths[path][ws];
        const std::vector<FaceResult> r = p.process(f.frame, {oracle ? truth : *best});
        if (r.front().status != FaceStatus::kOk) continue;
        emb[name][i] = r.front().embedding;
        th[name][i] = r.front().threshold;
        used[name][i] = r.front().working_px ? std::to_string(r.front().working_px) + " px " +
                                                   r.front().recovery
                                             : r.front().recovery;
      }
    });
    const double seconds = seconds_since(start);
    // Only the paths asked for are reported (base always: it is the reference).
    auto asked = [&](const std::string& path) {
      return path == "base" || std::any_of(o.conditions.begin(), o.conditions.end(), [&](const Condition& c) {
               return c.kind == Condition::Kind::kNative && c.px == px && c.path == path;
             });
    };
    // A row of path `name` (labelled `label`): the images scored, the faces found, their size
    // error and what recovered them.
    auto native_row = [&](const std::string& name, const std::string& label, double secs) {
      ConditionResult r;
      r.condition = {Condition::Kind::kNative, px, label};
      r.seconds = secs;
      double err = 0;
      for (std::size_t i = 0; i < n; ++i) {
        r.images += landmarks[i] && small[i];
        r.found += found[i];
        if (found[i]) err += error[i];
        if (!used[name][i].empty()) r.recoveries[used[name][i]]++;
      }
      r.native_px_error = r.found ? err / r.found : 0;
      return r;
    };
    for (const auto& name : names) {
      ConditionResult r = native_row(name, name, seconds / static_cast<double>(names.size()));
      score(work, full_emb, emb[name], full_t, th[name], false, o.calibrate_far, r);
      const bool oracle = name.ends_with(kTrueLandmarks);
      if (asked(oracle ? name.substr(0, name.size() - kTrueLandmarks.size()) : name)) {
        report.results.push_back(std::move(r));
      }
    }
    if (o.matched_sizes.empty()) continue;
    // --- the same faces against resolution-matched templates ---------------------------------
    start = Clock::now();
    std::vector<int> template_px(n, 0);
    std::set<int> needed;
    for (std::size_t i = 0; i < n; ++i) {
      if (!found[i]) continue;
      template_px[i] = matched_template_size(o.matched_sizes, measured[i]);
      needed.insert(template_px[i]);
    }
    std::vector<std::string> plain;
    for (const auto& name : names) {
      if (!name.ends_with(kTrueLandmarks)) plain.push_back(name);
    }
    std::map<std::string, std::map<int, Embeddings>> at_size;
    for (const auto& name : plain) {
      for (int s : needed) at_size[name][s].resize(n);
    }
    parallel_for(jobs, n, std::to_string(px) + " px matched templates", o, [&](int w, std::size_t i) {
      if (!hr_side[i] || !face_of[i]) return;
      const std::size_t ws = static_cast<std::size_t>(w);
      const cv::Mat aligned = align_face(load_image(dataset.root / work.files[i]), face_of[i]->landmarks);
      for (const auto& name : plain) {
        Pipeline& p = name == "base" ? *full[ws] : *paths[name][ws];
        for (int s : needed) at_size[name][s][i] = p.embed_small(aligned, s);
      }
    });
    const double matched_seconds = seconds_since(start);
    for (const auto& name : plain) {
      if (!asked(name)) continue;
      ConditionResult r = native_row(name, name + std::string(kMatched),
                                     seconds / static_cast<double>(names.size()) +
                                         matched_seconds / static_cast<double>(plain.size()));
      for (const auto& plain_row : report.results) {  // LR-LR: the plain row's
        const Condition& c = plain_row.condition;
        if (c.kind == Condition::Kind::kNative && c.px == px && c.path == name) r.lrlr = plain_row.lrlr;
      }
      if (r.lrlr) r.lrlr->product.reset();
      score_matched(work, full_emb, emb[name], at_size[name], template_px, o.calibrate_far, r);
      report.results.push_back(std::move(r));
    }
  }
  compare(report);
  return report;
}

}  // namespace vlrface::evaluation
