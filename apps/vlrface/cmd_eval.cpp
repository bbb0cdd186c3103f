// eval: align each image once, embed it once per (resolution, upscaler), then score.
#include "cmd_eval.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "vlrface/align.hpp"
#include "vlrface/dataset.hpp"
#include "vlrface/detect.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/eval.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/plot.hpp"
#include "vlrface/precision.hpp"
#include "vlrface/upscale.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vlrface::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct EvalCondition {
  int resolution = 0;    // 0: full
  std::string upscaler;  // "none" at full resolution; "+adapter": the adapted embedder probes
  std::string base_upscaler() const { return upscaler.substr(0, upscaler.find('+')); }
  bool adapter() const { return upscaler.find("+adapter") != std::string::npos; }
  std::string label() const {
    return resolution == 0 ? "112 px" : std::to_string(resolution) + " px " + upscaler;
  }
};

struct AlignmentReport {
  int images = 0, from_landmarks = 0, from_detector = 0;
  bool forced_detection = false;     // --detect: landmarks.csv ignored
  std::string detector;              // when used
  bool approximate = false;          // the Haar fallback guessed landmarks
  std::vector<std::string> no_face;  // "file: reason"
  double seconds = 0;
};

struct ConditionResult {
  EvalCondition condition;
  double seconds = 0;
  std::vector<eval::ScoredPair> scores;  // empty without pairs.txt
  std::optional<eval::KFoldResult> kfold;
  double auc = 0, eer = 0, best_threshold = 0;
  eval::RocPoint tar_1e2, tar_1e3;
  std::optional<eval::RocPoint> calibration;
  std::optional<eval::IdentificationResult> identification;
  std::optional<double> gap;  // share of the (112 px - bicubic) accuracy gap recovered
  std::optional<eval::PairedDifference> vs_bicubic, vs_full;
};

struct EvalReport {
  std::string dataset, model_id;
  std::string embedder_precision, detector_precision;
  std::string calibration;  // what int8 was calibrated on; empty when nothing is int8
  int jobs = 0, folds = 0, identities = 0, gallery_images = 0, probes = 0;
  int pairs_with_missing_face = 0, probes_without_face = 0;
  double calibrate_far = -1;
  AlignmentReport alignment;
  std::vector<ConditionResult> results;
  double seconds = 0;
};

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

std::vector<EvalCondition> parse_conditions(const EvalOptions& o) {
  std::vector<std::string> upscalers;
  for (const auto& u : split_list(o.upscalers, "--upscaler")) {
    const std::string base = u.substr(0, u.find('+'));
    const std::string rest = u.size() > base.size() ? u.substr(base.size()) : "";
    if ((base != "bicubic" && base != "dsr") || (!rest.empty() && rest != "+adapter")) {
      throw Error("cli", "--upscaler: '" + u + "' is not bicubic, dsr, bicubic+adapter or dsr+adapter");
    }
    if (std::find(upscalers.begin(), upscalers.end(), u) == upscalers.end()) upscalers.push_back(u);
  }
  std::vector<EvalCondition> out;
  std::set<int> seen;
  for (const auto& r : split_list(o.resolutions, "--res")) {
    int res = 0;
    if (r != "full" && r != "112") {
      const auto [end, ec] = std::from_chars(r.data(), r.data() + r.size(), res);
      if (ec != std::errc() || end != r.data() + r.size() || res < 4 || res >= kAlignedSize) {
        throw Error("cli", "--res: '" + r + "' is not 112, full or a size from 4 to 111");
      }
    }
    if (!seen.insert(res).second) continue;
    if (res == 0) {
      out.push_back({0, "none"});  // nothing is upscaled at full resolution
    } else {
      for (const auto& u : upscalers) out.push_back({res, u});
    }
  }
  return out;
}

// A one-line progress bar, drawn only for a person watching a terminal.
class Progress {
 public:
  Progress() : tty_(::isatty(STDERR_FILENO) == 1) {}
  void show(const std::string& label, std::size_t done, std::size_t total) const {
    if (!tty_) return;
    constexpr std::size_t kBar = 30;
    const std::size_t filled = total ? kBar * done / total : kBar;
    std::fprintf(stderr, "\r%-24s [%s%s] %zu/%zu", label.c_str(), std::string(filled, '#').c_str(),
                 std::string(kBar - filled, ' ').c_str(), done, total);
    std::fflush(stderr);
  }
  void clear() const {
    if (!tty_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }

 private:
  bool tty_;
};

// Runs task(worker, i) for every i < n on `workers` threads; the first error stops the others
// and is rethrown here, so a broken image fails the run with its own message.
template <class Task>
void parallel_for(int workers, std::size_t n, const std::string& label, const Progress& progress,
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
    if (tick % 5 == 0) progress.show(label, done, n);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& t : threads) t.join();
  progress.clear();
  if (error) std::rethrow_exception(error);
}

// The images the protocol files reference, each once, and the pairs and lists as indices.
struct Work {
  std::vector<std::string> files;  // relative to the dataset
  std::map<std::string, std::size_t> index;
  struct Pair {
    std::size_t a, b;
    bool genuine;
    int fold;
  };
  std::vector<Pair> pairs;
  int folds = 0;
  std::vector<std::string> identities;  // of the gallery, sorted; template i is identities[i]
  std::vector<std::pair<std::size_t, int>> gallery, probe;  // (image, identity)

  std::size_t add(const std::string& file) {
    const auto [it, inserted] = index.emplace(file, files.size());
    if (inserted) files.push_back(file);
    return it->second;
  }
};

Work plan_work(const EvalDataset& d, int limit_folds) {
  Work w;
  if (d.has_pairs()) {
    w.folds = limit_folds > 0 ? std::min(limit_folds, d.pairs.folds) : d.pairs.folds;
    for (const auto& p : d.pairs.pairs) {
      if (p.fold >= w.folds) continue;
      w.pairs.push_back({w.add(p.first), w.add(p.second), p.genuine, p.fold});
    }
  }
  std::map<std::string, int> label;
  for (const auto& g : d.gallery) label.emplace(g.identity, 0);
  for (auto& [name, i] : label) {
    i = static_cast<int>(w.identities.size());
    w.identities.push_back(name);
  }
  for (const auto& g : d.gallery) w.gallery.emplace_back(w.add(g.file), label.at(g.identity));
  for (const auto& p : d.probe) w.probe.emplace_back(w.add(p.file), label.at(p.identity));
  return w;
}

// int8 calibration inputs: `count` images spread evenly over the gallery (the faces a deployment
// would calibrate on), or over all images without one; each as a frame, and aligned from
// landmarks.csv where it has the image.
struct Calibration {
  std::vector<cv::Mat> frames, faces;
  std::string source;
};

Calibration calibration_inputs(const EvalDataset& d, const Work& work, int count) {
  std::vector<std::size_t> pool;
  for (const auto& [image, id] : work.gallery) pool.push_back(image);
  if (pool.empty()) {
    for (std::size_t i = 0; i < work.files.size(); ++i) pool.push_back(i);
  }
  const std::size_t n = std::min(pool.size(), static_cast<std::size_t>(count));
  Calibration c;
  for (std::size_t k = 0; k < n; ++k) {
    const std::string& file = work.files[pool[k * pool.size() / n]];
    c.frames.push_back(load_image(d.root / file));
    if (const auto lm = d.landmarks.find(file); lm != d.landmarks.end()) {
      c.faces.push_back(align_face(c.frames.back(), lm->second));
    }
  }
  c.source = std::to_string(n) + (work.gallery.empty() ? " dataset" : " gallery") +
             " images, evenly spaced";
  return c;
}

std::vector<cv::Mat> align_all(const EvalDataset& d, const Work& work, const ModelStore& store,
                               int jobs, const Progress& progress, const DetectorOptions& detection,
                               bool detect_all, AlignmentReport& report) {
  const auto start = Clock::now();
  const std::size_t n = work.files.size();
  std::vector<cv::Mat> faces(n);
  std::vector<std::string> notes(n);
  std::vector<char> detected(n, 0);
  struct WorkerDetector {
    std::unique_ptr<Detector> detector;  // created on first need: landmarks.csv usually covers all
    bool fallback = false;
  };
  std::vector<WorkerDetector> detectors(static_cast<std::size_t>(jobs));
  parallel_for(jobs, n, "aligning", progress, [&](int w, std::size_t i) {
    const cv::Mat bgr = load_image(d.root / work.files[i]);
    try {
      if (const auto lm = d.landmarks.find(work.files[i]); !detect_all && lm != d.landmarks.end()) {
        faces[i] = align_face(bgr, lm->second);
        return;
      }
      // The detector and aligner directly, as Pipeline::process does, without its embedding.
      detected[i] = 1;
      WorkerDetector& wd = detectors[static_cast<std::size_t>(w)];
      if (!wd.detector) wd.detector = make_detector(store, detection, &wd.fallback);
      const std::vector<Face> found = wd.detector->detect(bgr);
      if (found.empty()) {
        notes[i] = "no face found";
        return;
      }
      const auto largest = std::max_element(
          found.begin(), found.end(),
          [](const auto& a, const auto& b) { return a.box.area() < b.box.area(); });
      faces[i] = align_face(bgr, largest->landmarks);
    } catch (const Error& e) {
      if (e.stage() != "align") throw;
      notes[i] = e.what();  // landmarks too close together: a face too small to align
    }
  });
  report.images = static_cast<int>(n);
  report.forced_detection = detect_all;
  for (std::size_t i = 0; i < n; ++i) {
    (detected[i] ? report.from_detector : report.from_landmarks)++;
    if (faces[i].empty()) report.no_face.push_back(work.files[i] + ": " + notes[i]);
  }
  for (const auto& wd : detectors) {
    if (!wd.detector) continue;
    report.detector = wd.detector->name();
    report.approximate = report.approximate || wd.fallback;
  }
  report.seconds = seconds_since(start);
  return faces;
}

std::vector<std::vector<float>> embed_all(std::vector<std::unique_ptr<Pipeline>>& pipelines,
                                          const std::vector<cv::Mat>& faces, const EvalCondition& c,
                                          const Progress& progress) {
  for (auto& p : pipelines) {
    if (c.resolution == 0) {
      p->set_resolution(0, "bicubic", false);
    } else {
      p->set_resolution(c.resolution, c.base_upscaler(), c.adapter());
    }
  }
  std::vector<std::vector<float>> embeddings(faces.size());
  parallel_for(static_cast<int>(pipelines.size()), faces.size(), "embedding " + c.label(), progress,
               [&](int w, std::size_t i) {
                 if (faces[i].empty()) return;
                 embeddings[i] =
                     pipelines[static_cast<std::size_t>(w)]->process_aligned(faces[i]).embedding;
               });
  return embeddings;
}

void score(const Work& work, const std::vector<std::vector<float>>& emb, double calibrate,
           ConditionResult& r) {
  if (!work.pairs.empty()) {
    for (const auto& p : work.pairs) {
      const auto &a = emb[p.a], &b = emb[p.b];
      // A pair with a face that could not be found is scored as the least similar possible.
      const double s = a.empty() || b.empty() ? -1.0 : static_cast<double>(cosine(a, b));
      r.scores.push_back({s, p.genuine, p.fold});
    }
    r.kfold = eval::kfold_verification(r.scores);
    r.auc = eval::roc_auc(r.scores);
    r.eer = eval::equal_error_rate(r.scores);
    r.tar_1e2 = eval::tar_at_far(r.scores, 1e-2);
    r.tar_1e3 = eval::tar_at_far(r.scores, 1e-3);
    r.best_threshold = eval::best_threshold(r.scores).threshold;
    if (calibrate >= 0) r.calibration = eval::tar_at_far(r.scores, calibrate);
  }
  if (!work.gallery.empty()) {
    std::vector<std::vector<std::vector<float>>> per_identity(work.identities.size());
    for (const auto& [image, id] : work.gallery) {
      per_identity[static_cast<std::size_t>(id)].push_back(emb[image]);
    }
    std::vector<std::vector<float>> templates;
    for (const auto& e : per_identity) templates.push_back(eval::mean_template(e));
    std::vector<std::vector<float>> probes;
    std::vector<int> labels;
    for (const auto& [image, id] : work.probe) {
      probes.push_back(emb[image]);
      labels.push_back(id);
    }
    r.identification = eval::identify_closed_set(templates, probes, labels, 5);
  }
}

std::vector<double> fold_accuracies(const ConditionResult& r) {
  std::vector<double> a;
  for (const auto& f : r.kfold->folds) a.push_back(f.accuracy);
  return a;
}

// Gap recovered and paired differences need the bicubic and 112 px rows of the same run.
void compare_conditions(EvalReport& report) {
  auto find = [&](int res, const std::string& up) -> const ConditionResult* {
    for (const auto& r : report.results) {
      if (r.condition.resolution == res && (res == 0 || r.condition.upscaler == up)) return &r;
    }
    return nullptr;
  };
  const ConditionResult* full = find(0, "none");
  for (auto& r : report.results) {
    if (r.condition.resolution == 0 || !r.kfold) continue;
    const ConditionResult* bicubic = find(r.condition.resolution, "bicubic");
    if (full) r.vs_full = eval::paired_difference(fold_accuracies(r), fold_accuracies(*full));
    if (bicubic && bicubic != &r) {
      r.vs_bicubic = eval::paired_difference(fold_accuracies(r), fold_accuracies(*bicubic));
    }
    if (full && bicubic) {
      r.gap = eval::gap_recovered(r.kfold->accuracy.mean, bicubic->kfold->accuracy.mean,
                                  full->kfold->accuracy.mean);
    }
  }
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Pads to `width` characters on screen: "±" is two bytes, so printf's widths are off by one.
std::string pad(const std::string& s, std::size_t width) {
  std::size_t shown = 0;
  for (unsigned char c : s) shown += (c & 0xC0) != 0x80;
  return shown < width ? s + std::string(width - shown, ' ') : s;
}

std::string signed_pct(const eval::MeanStd& m) {
  return fmt("%+.2f", 100 * m.mean) + " ± " + fmt("%.2f", 100 * m.std) + " %";
}

void print_report(const EvalReport& rep) {
  const AlignmentReport& al = rep.alignment;
  std::cout << "dataset  " << rep.dataset << "\nmodel    " << rep.model_id << " ("
            << rep.embedder_precision << ")\n";
  if (!rep.calibration.empty()) std::cout << "int8     calibrated on " << rep.calibration << "\n";
  if (rep.folds > 0) {
    std::cout << "pairs    " << rep.results.front().scores.size() << " in " << rep.folds
              << " folds (" << rep.pairs_with_missing_face << " with a face not found)\n";
  }
  if (rep.probes > 0) {
    std::cout << "ident.   " << rep.probes << " probes (" << rep.probes_without_face
              << " with no face), " << rep.identities << " identities, " << rep.gallery_images
              << " gallery images\n";
  }
  std::cout << "aligned  " << al.images << " images (" << al.from_landmarks
            << " from landmarks.csv, " << al.from_detector << " by "
            << (al.detector.empty() ? "the detector" : al.detector)
            << (al.forced_detection ? ", --detect" : "") << ") in " << fmt("%.1f", al.seconds)
            << " s; no usable face: " << al.no_face.size() << "\n\n";

  std::printf("%-4s %-8s %s %8s %6s %8s %8s %7s %7s %6s %7s\n", "res", "upscale",
              pad("accuracy %", 15).c_str(), "AUC", "EER %", "TAR@1e-2", "TAR@1e-3", "rank-1",
              "rank-5", "gap", "time s");
  for (const auto& r : rep.results) {
    const bool v = r.kfold.has_value();
    const auto& id = r.identification;
    const std::string acc = v ? fmt("%6.2f", 100 * r.kfold->accuracy.mean) + " ± " +
                                    fmt("%.2f", 100 * r.kfold->accuracy.std)
                              : "-";
    const std::string gap = r.condition.resolution == 0         ? "-"
                            : r.condition.upscaler == "bicubic" ? "ref"
                            : r.gap                             ? fmt("%.2f", *r.gap)
                                                                : "-";
    std::printf("%-4d %-8s %s %8s %6s %8s %8s %7s %7s %6s %7.1f\n",
                r.condition.resolution == 0 ? kAlignedSize : r.condition.resolution,
                r.condition.resolution == 0 ? "-" : r.condition.upscaler.c_str(),
                pad(acc, 15).c_str(), v ? fmt("%.5f", r.auc).c_str() : "-",
                v ? fmt("%.2f", 100 * r.eer).c_str() : "-",
                v ? fmt("%.2f", 100 * r.tar_1e2.tar).c_str() : "-",
                v ? fmt("%.2f", 100 * r.tar_1e3.tar).c_str() : "-",
                id ? fmt("%.2f", 100 * id->rank(1)).c_str() : "-",
                id ? fmt("%.2f", 100 * id->rank(5)).c_str() : "-", gap.c_str(), r.seconds);
  }
  std::cout << "\naccuracy: " << rep.folds << "-fold, mean ± sample std over folds; gap: share "
            << "of the (112 px - bicubic) accuracy gap recovered\n";

  bool header = false;
  for (const auto& r : rep.results) {
    for (const auto& [d, base] : {std::pair{&r.vs_bicubic, std::string(" bicubic")},
                                  std::pair{&r.vs_full, std::string("112 px")}}) {
      if (!*d) continue;
      if (!header) std::cout << "paired per-fold accuracy differences (mean ± std over folds):\n";
      header = true;
      const std::string other =
          base == "112 px" ? base : std::to_string(r.condition.resolution) + " px" + base;
      std::cout << "  " << r.condition.label() << " - " << other << ": "
                << signed_pct((*d)->difference) << "\n";
    }
  }
  if (rep.calibrate_far > 0) {
    std::cout << "calibration: threshold for FAR " << rep.calibrate_far << " over all "
              << "impostor pairs (accept when similarity > threshold):\n";
    for (const auto& r : rep.results) {
      if (!r.calibration) continue;
      std::cout << "  " << r.condition.label() << ": threshold "
                << fmt("%.4f", r.calibration->threshold) << " (FAR "
                << fmt("%.5f", r.calibration->far) << ", TAR "
                << fmt("%.2f", 100 * r.calibration->tar) << " %)\n";
    }
  }
  std::cout << "total " << fmt("%.1f", rep.seconds) << " s with " << rep.jobs << " job"
            << (rep.jobs == 1 ? "" : "s") << "\n";
  if (al.approximate) {
    std::cerr
        << "vlrface: warning: the Haar fallback detector was used: alignment is approximate\n";
  }
  for (std::size_t i = 0; i < al.no_face.size() && i < 10; ++i) {
    std::cerr << "vlrface: no usable face: " << al.no_face[i] << "\n";
  }
  if (al.no_face.size() > 10) {
    std::cerr << "vlrface: ... and " << al.no_face.size() - 10 << " more (see --json)\n";
  }
}

// JSON has no infinity: thresholds that accept or reject everything are written as null.
json number(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json point_json(const eval::RocPoint& p) {
  return {{"threshold", number(p.threshold)}, {"far", p.far}, {"tar", p.tar}};
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_json_report(const EvalReport& rep, const fs::path& file) {
  const AlignmentReport& al = rep.alignment;
  json out = {{"dataset", rep.dataset},
              {"model", rep.model_id},
              {"precision",
               {{"embedder", rep.embedder_precision},
                {"detector", rep.detector_precision},
                {"calibration", rep.calibration.empty() ? json(nullptr) : json(rep.calibration)}}},
              {"date", utc_now()},
              {"jobs", rep.jobs},
              {"seconds", rep.seconds},
              {"protocol",
               {{"decision", "same person when similarity > threshold"},
                {"folds", rep.folds},
                {"fold_std", "sample standard deviation over folds (ddof = 1)"},
                {"no_face", "pairs with such an image score -1; such probes are misses"}}},
              {"alignment",
               {{"images", al.images},
                {"from_landmarks", al.from_landmarks},
                {"from_detector", al.from_detector},
                {"detector", al.detector.empty() ? json(nullptr) : json(al.detector)},
                {"forced_detection", al.forced_detection},
                {"approximate", al.approximate},
                {"no_face", al.no_face},
                {"seconds", al.seconds}}},
              {"counts",
               {{"pairs", rep.results.empty() ? std::size_t{0} : rep.results.front().scores.size()},
                {"pairs_with_missing_face", rep.pairs_with_missing_face},
                {"identities", rep.identities},
                {"gallery_images", rep.gallery_images},
                {"probes", rep.probes},
                {"probes_without_face", rep.probes_without_face}}}};
  json results = json::array();
  for (const auto& r : rep.results) {
    json j = {
        {"resolution", r.condition.resolution == 0 ? kAlignedSize : r.condition.resolution},
        {"upscaler", r.condition.resolution == 0 ? json(nullptr) : json(r.condition.upscaler)},
        {"seconds", r.seconds}};
    if (r.kfold) {
      json folds = json::array();
      for (const auto& f : r.kfold->folds) {
        folds.push_back({{"fold", f.fold + 1},
                         {"threshold", number(f.threshold)},
                         {"train_accuracy", f.train_accuracy},
                         {"accuracy", f.accuracy},
                         {"pairs", f.pairs}});
      }
      int genuine = 0;
      for (const auto& s : r.scores) genuine += s.genuine;
      j["verification"] = {
          {"accuracy", r.kfold->accuracy.mean},
          {"std", r.kfold->accuracy.std},
          {"folds", folds},
          {"genuine", genuine},
          {"impostor", static_cast<int>(r.scores.size()) - genuine},
          {"auc", r.auc},
          {"eer", r.eer},
          {"best_threshold_all_pairs", number(r.best_threshold)},
          {"tar_at_far", {{"1e-2", point_json(r.tar_1e2)}, {"1e-3", point_json(r.tar_1e3)}}}};
      if (r.calibration) {
        j["calibration"] = point_json(*r.calibration);
        j["calibration"]["target_far"] = rep.calibrate_far;
      }
    }
    if (r.identification) {
      j["identification"] = {{"probes", r.identification->probes},
                             {"rank1", r.identification->rank(1)},
                             {"rank5", r.identification->rank(5)},
                             {"cmc_hits", r.identification->hits}};
    }
    j["gap_recovered"] = r.gap ? json(*r.gap) : json(nullptr);
    for (const auto& [key, d] :
         {std::pair{"paired_vs_bicubic", &r.vs_bicubic}, std::pair{"paired_vs_112", &r.vs_full}}) {
      j[key] = *d ? json{{"mean", (*d)->difference.mean},
                         {"std", (*d)->difference.std},
                         {"per_fold", (*d)->per_fold}}
                  : json(nullptr);
    }
    results.push_back(j);
  }
  out["results"] = results;
  std::ofstream f(file);
  f << out.dump(2) << "\n";
  if (!f) throw Error("eval", file.string() + ": cannot be written");
}

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream f(file);
  f << text;
  if (!f) throw Error("eval", file.string() + ": cannot be written");
}

void write_plots(const EvalReport& rep, const fs::path& dir) {
  if (rep.folds == 0) {
    spdlog::warn("--plots: the dataset has no pairs.txt; no ROC curve or histogram to draw");
    return;
  }
  fs::create_directories(dir);
  const std::string name = fs::path(rep.dataset).filename().string();
  std::vector<plot::RocSeries> series;
  for (const auto& r : rep.results) {
    series.push_back({r.condition.label(), eval::roc_curve(r.scores)});
    std::vector<double> genuine, impostor;
    for (const auto& s : r.scores) (s.genuine ? genuine : impostor).push_back(s.score);
    std::string file =
        "hist_" +
        std::to_string(r.condition.resolution == 0 ? kAlignedSize : r.condition.resolution);
    if (r.condition.resolution != 0) file += "_" + r.condition.upscaler;
    write_text(dir / (file + ".svg"),
               plot::histogram_svg(genuine, impostor,
                                   name + " " + r.condition.label() + " — " + rep.model_id,
                                   r.best_threshold));
  }
  write_text(dir / "roc.svg", plot::roc_svg(series, name + " ROC — " + rep.model_id));
}

}  // namespace

CLI::App* add_eval_command(CLI::App& app, EvalOptions& o) {
  auto* c = app.add_subcommand(
      "eval", "accuracy on a dataset (LFW-style pairs, gallery/probe) per resolution and upscaler");
  c->add_option("--dataset", o.dataset,
                "dataset folder: images/<id>/<n>.jpg, pairs.txt and/or gallery.txt + probe.txt, "
                "optional landmarks.csv")
      ->required();
  c->add_option("--res", o.resolutions, "comma-separated resolutions; 112 or full: no degradation")
      ->capture_default_str();
  c->add_option("--upscaler", o.upscalers, "comma-separated: bicubic, dsr, bicubic+adapter, dsr+adapter (+adapter: "
                "probes embedded by the resolution's adapted EdgeFace)")
      ->capture_default_str();
  c->add_option("--json", o.json, "write every figure to this JSON file");
  c->add_option("--plots", o.plots, "write ROC curves and similarity histograms (SVG) here");
  c->add_option("--calibrate", o.calibrate,
                "print, per resolution, the similarity threshold giving this FAR on the pairs");
  c->add_option("--jobs", o.jobs, "worker threads, each with its own networks")
      ->capture_default_str();
  c->add_option("--limit-folds", o.limit_folds, "use only the first K folds (quick runs)");
  c->add_option("--precision", o.precision,
                "embedder precision, fp32 or int8 (default: the model's, from its manifest)");
  c->add_option("--detector-precision", o.detector_precision,
                "YuNet precision where images are aligned by detection (see --detect)");
  c->add_flag("--detect", o.detect,
              "align every image by detection, ignoring landmarks.csv (measures the detector)");
  c->add_option("--calibration-count", o.calibration_count,
                "int8: dataset images whose activations set the int8 ranges")
      ->capture_default_str();
  return c;
}

int run_eval(const GlobalOptions& g, const EvalOptions& o) {
  const auto start = Clock::now();
  if (o.jobs < 1 || o.jobs > 256) throw Error("cli", "--jobs must be between 1 and 256");
  if (o.limit_folds < 0 || o.limit_folds == 1) {
    throw Error("cli", "--limit-folds must be at least 2 (thresholds come from the other folds)");
  }
  if (o.calibrate != -1 && !(o.calibrate > 0 && o.calibrate < 1)) {
    throw Error("cli", "--calibrate takes a FAR between 0 and 1, e.g. 1e-3");
  }
  if (o.calibration_count < 1) throw Error("cli", "--calibration-count must be >= 1");
  std::optional<Precision> embedder_precision, detector_precision;
  if (!o.precision.empty()) embedder_precision = parse_precision(o.precision, "--precision");
  if (!o.detector_precision.empty()) {
    detector_precision = parse_precision(o.detector_precision, "--detector-precision");
  }
  const std::vector<EvalCondition> conditions = parse_conditions(o);
  // The dataset first: a malformed file is reported before any model is loaded.
  const EvalDataset dataset = load_eval_dataset(o.dataset);
  const Work work = plan_work(dataset, o.limit_folds);

  Context ctx(g);
  // Parallelism comes from the workers; OpenCV's own threads would only compete with them.
  if (o.jobs > 1) set_inference_threads(1);
  const ModelInfo& embedder_info = ctx.embedder_info();  // missing: reported before alignment
  for (const auto& c : conditions) {
    if (c.resolution == 0) continue;
    (void)make_upscaler(c.base_upscaler(), c.resolution, ctx.store());
    (void)resolve_recovery(ctx.store(), g.embedder, c.resolution, c.base_upscaler(), c.adapter());
  }
  bool detects = o.detect;
  for (const auto& f : work.files) detects = detects || !dataset.landmarks.count(f);
  const Precision emb_precision = embedder_precision.value_or(embedder_info.precision);
  DetectorOptions detection;
  detection.precision = detector_precision;
  const Precision det_precision = detector_precision.value_or(
      ctx.store().has(kDefaultDetector) ? ctx.store().get(kDefaultDetector).precision
                                        : Precision::kFp32);
  Calibration calibration;
  if (emb_precision == Precision::kInt8 || (detects && det_precision == Precision::kInt8)) {
    calibration = calibration_inputs(dataset, work, o.calibration_count);
    detection.calibration = calibration.frames;
  }
  // Each worker quantizes its own networks; an unquantizable model stops the run here, with
  // OpenCV's reason, before the slow alignment.
  std::vector<std::unique_ptr<Pipeline>> pipelines;
  for (int i = 0; i < o.jobs; ++i) {
    PipelineConfig config;
    config.embedder = g.embedder;
    config.embedding.precision = emb_precision;
    if (emb_precision == Precision::kInt8) config.embedding.calibration = calibration.faces;
    pipelines.push_back(std::make_unique<Pipeline>(ctx.store(), config));
  }

  EvalReport report;
  report.embedder_precision = to_string(emb_precision);
  report.detector_precision = to_string(det_precision);
  report.calibration = calibration.source;
  report.dataset = fs::absolute(o.dataset).lexically_normal().string();
  report.model_id = pipelines.front()->model_id();
  report.jobs = o.jobs;
  report.folds = work.folds;
  report.calibrate_far = o.calibrate;
  report.identities = static_cast<int>(work.identities.size());
  report.gallery_images = static_cast<int>(work.gallery.size());
  report.probes = static_cast<int>(work.probe.size());

  const Progress progress;
  const std::vector<cv::Mat> faces = align_all(dataset, work, ctx.store(), o.jobs, progress,
                                               detection, o.detect, report.alignment);
  spdlog::info("aligned {} images in {:.1f} s", work.files.size(), report.alignment.seconds);
  for (const auto& p : work.pairs) {
    report.pairs_with_missing_face += faces[p.a].empty() || faces[p.b].empty();
  }
  for (const auto& [image, id] : work.probe) report.probes_without_face += faces[image].empty();

  for (const auto& c : conditions) {
    const auto t = Clock::now();
    ConditionResult r;
    r.condition = c;
    score(work, embed_all(pipelines, faces, c, progress), o.calibrate, r);
    r.seconds = seconds_since(t);
    spdlog::info("{}: {:.1f} s", c.label(), r.seconds);
    report.results.push_back(std::move(r));
  }
  report.seconds = seconds_since(start);
  compare_conditions(report);

  print_report(report);
  if (!o.json.empty()) write_json_report(report, o.json);
  if (!o.plots.empty()) write_plots(report, o.plots);
  return 0;
}

}  // namespace vlrface::cli
