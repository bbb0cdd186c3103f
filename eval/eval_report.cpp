// eval/eval_report.cpp — the table, the JSON and the plots of an evaluation Report.
#include "eval_report.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "vlrface/align.hpp"
#include "vlrface/error.hpp"
#include "vlrface/plot.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vlrface::evaluation {
namespace {

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// One printf-formatted table line (the widths line up the columns).
template <typename... Args>
std::string line(const char* format, Args... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, format, args...);
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

std::string acc_text(const std::optional<Verification>& v) {
  if (!v) return "-";
  return fmt("%6.2f", 100 * v->kfold.accuracy.mean) + " ± " + fmt("%.2f", 100 * v->kfold.accuracy.std);
}

// JSON has no infinity: thresholds that accept or reject everything are written as null.
json number(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json point_json(const eval::RocPoint& p) {
  return {{"threshold", number(p.threshold)}, {"far", p.far}, {"tar", p.tar}};
}

json verification_json(const Verification& v, double calibrate) {
  json folds = json::array();
  for (const auto& f : v.kfold.folds) {
    folds.push_back({{"fold", f.fold + 1},
                     {"threshold", number(f.threshold)},
                     {"train_accuracy", f.train_accuracy},
                     {"accuracy", f.accuracy},
                     {"pairs", f.pairs}});
  }
  int genuine = 0;
  for (const auto& s : v.scores) genuine += s.genuine;
  json j = {{"accuracy", v.kfold.accuracy.mean},
            {"std", v.kfold.accuracy.std},
            {"folds", folds},
            {"genuine", genuine},
            {"impostor", static_cast<int>(v.scores.size()) - genuine},
            {"auc", v.auc},
            {"eer", v.eer},
            {"best_threshold_all_pairs", number(v.best_threshold)},
            {"tar_at_far", {{"1e-2", point_json(v.tar_1e2)}, {"1e-3", point_json(v.tar_1e3)}}}};
  if (v.calibration) {
    j["calibration"] = point_json(*v.calibration);
    j["calibration"]["target_far"] = calibrate;
  }
  if (v.product) {
    j["at_product_thresholds"] = point_json(*v.product);
    j["at_product_thresholds"]["note"] =
        "each face's own threshold from the model manifest (threshold: their mean)";
  }
  return j;
}

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream f(file);
  f << text;
  if (!f) throw Error("eval", file.string() + ": cannot be written");
}

std::string file_key(const Condition& c) {
  if (c.kind == Condition::Kind::kFull) return "112";
  return std::to_string(c.px) + (c.kind == Condition::Kind::kNative ? "_native_" : "_") + c.path;
}

}  // namespace

void print_report(std::ostream& os, const Report& rep, const std::string& dataset, double calibrate,
                  double seconds, int jobs) {
  const AlignmentReport& al = rep.alignment;
  os << "dataset  " << dataset << "\nmodel    " << rep.model_id << " ("
            << rep.embedder_precision << ")\n";
  if (!rep.calibration.empty()) os << "int8     calibrated on " << rep.calibration << "\n";
  if (rep.folds > 0) {
    int genuine = 0;
    const auto& scores = rep.results.front().lrlr->scores;
    for (const auto& s : scores) genuine += s.genuine;
    os << "pairs    " << scores.size() << " in " << rep.folds << " folds (" << genuine
              << " genuine, " << scores.size() - genuine << " impostor; "
              << rep.pairs_with_missing_face << " with a face not found)\n";
  }
  if (rep.identification_skipped) {
    os << "ident.   skipped: --limit-folds reads only the images of the selected folds "
                 "(run without it for rank-1)\n";
  }
  if (rep.probes > 0) {
    os << "ident.   " << rep.probes << " probes (" << rep.probes_without_face
              << " with no face), " << rep.identities << " identities, " << rep.gallery_images
              << " gallery images (enrolled at full resolution)\n";
  }
  os << "aligned  " << al.images << " images (" << al.from_landmarks
            << " from landmarks.csv, " << al.from_detector << " by "
            << (al.detector.empty() ? "the detector" : al.detector)
            << (al.forced_detection ? ", --detect" : "") << ") in " << fmt("%.1f", al.seconds)
            << " s; no usable face: " << al.no_face.size() << "\n\n";

  os << line("%-9s %-4s %-15s %6s %s %s %8s %7s %6s %6s %7s\n", "kind", "px", "recovery", "found",
              pad("LR-LR acc %", 15).c_str(), pad("HR-LR acc %", 15).c_str(), "TAR@1e-3",
              "rank-1", "gap", "gapHR", "time s");
  for (const auto& r : rep.results) {
    const Condition& c = r.condition;
    const bool nat = c.kind == Condition::Kind::kNative;
    const bool ref = c.kind != Condition::Kind::kFull && c.path == (nat ? "base" : "bicubic");
    auto gap = [&](const std::optional<double>& g) {
      return c.kind == Condition::Kind::kFull ? std::string("-") : ref ? std::string("ref")
                                                 : g ? fmt("%.2f", *g) : std::string("-");
    };
    const Verification* main = r.hrlr ? &*r.hrlr : r.lrlr ? &*r.lrlr : nullptr;
    os << line("%-9s %-4d %-15s %6s %s %s %8s %7s %6s %6s %7.1f\n", c.kind_name().c_str(),
                c.kind == Condition::Kind::kFull ? kAlignedSize : c.px, c.path.c_str(),
                nat && r.images ? fmt("%.1f", 100.0 * r.found / r.images).c_str() : "-",
                pad(acc_text(r.lrlr), 15).c_str(), pad(acc_text(r.hrlr), 15).c_str(),
                main ? fmt("%.2f", 100 * main->tar_1e3.tar).c_str() : "-",
                r.identification ? fmt("%.2f", 100 * r.identification->rank(1)).c_str() : "-",
                gap(r.gap_lrlr).c_str(), gap(r.gap_hrlr).c_str(), r.seconds);
  }
  os << "\naccuracy: " << rep.folds << "-fold, mean ± sample std over folds (class-"
            << "balanced: the mean of the genuine and impostor rates). LR-LR: both "
            << "faces of a pair small; HR-LR: the first at full resolution. found: native faces "
            << "detected near where they were placed (a miss counts as a wrong pair). gap: share of "
            << "the (112 px - reference) accuracy gap recovered, reference = bicubic (simulated) "
            << "or base (native); TAR@1e-3 and gapHR on HR-LR; rank-1 against a full-resolution "
            << "gallery.\n";
  bool header = false;
  for (const auto& r : rep.results) {
    if (!r.vs_reference) continue;
    if (!header) os << "paired per-fold HR-LR differences against the reference row:\n";
    header = true;
    os << "  " << r.condition.label() << ": " << signed_pct(r.vs_reference->difference)
              << "\n";
  }
  for (const auto& r : rep.results) {
    if (r.condition.kind != Condition::Kind::kNative || r.recoveries.empty()) continue;
    os << "  " << r.condition.label() << " ran:";
    for (const auto& [k, v] : r.recoveries) os << " " << k << " x" << v << ";";
    os << " native size error " << fmt("%.1f", 100 * r.native_px_error) << " %\n";
  }
  if (calibrate > 0) {
    os << "calibration: threshold for FAR " << calibrate << " over all impostor pairs "
              << "(HR-LR where there is one; same person iff similarity > threshold):\n";
    for (const auto& r : rep.results) {
      const Verification* v = r.hrlr ? &*r.hrlr : r.lrlr ? &*r.lrlr : nullptr;
      if (!v || !v->calibration) continue;
      os << "  " << r.condition.label() << ": threshold "
                << fmt("%.4f", v->calibration->threshold) << " (FAR "
                << fmt("%.5f", v->calibration->far) << ", TAR "
                << fmt("%.2f", 100 * v->calibration->tar) << " %)\n";
    }
  }
  os << "at the product's thresholds (manifest, per face; HR-LR where there is one):\n";
  for (const auto& r : rep.results) {
    const Verification* v = r.hrlr ? &*r.hrlr : r.lrlr ? &*r.lrlr : nullptr;
    const bool verified = v && v->product;
    const bool identified = r.identification && r.identification->product;
    if (!verified && !identified) continue;
    os << "  " << r.condition.label() << ": ";
    if (verified) {
      os << "FAR " << fmt("%.5f", v->product->far) << ", TAR "
                << fmt("%.2f", 100 * v->product->tar) << " % (mean threshold "
                << fmt("%.4f", v->product->threshold) << ")" << (identified ? "; " : "");
    }
    if (identified) {
      const auto& id = *r.identification->product;
      os << "identification: FPIR " << fmt("%.4f", id.far) << ", TPIR "
                << fmt("%.2f", 100 * id.tar) << " %"
                << (verified ? "" : " (mean threshold " + fmt("%.4f", id.threshold) + ")");
    }
    os << "\n";
  }
  bool open_set = false;
  for (const auto& r : rep.results) {
    if (!r.identification || r.identification->searches.empty()) continue;
    if (!open_set) {
      os << "open-set identification (each probe also searched with its own template left "
                   "out; named iff best similarity > threshold): TPIR at FPIR 1e-1 / 1e-2:\n";
      open_set = true;
    }
    const auto a = eval::tpir_at_fpir(r.identification->searches, 1e-1);
    const auto b = eval::tpir_at_fpir(r.identification->searches, 1e-2);
    os << "  " << r.condition.label() << ": " << fmt("%.2f", 100 * a.tar) << " / "
              << fmt("%.2f", 100 * b.tar) << " % (thresholds " << fmt("%.4f", a.threshold) << " / "
              << fmt("%.4f", b.threshold) << ")\n";
  }
  os << "total " << fmt("%.1f", seconds) << " s with " << jobs << " job"
            << (jobs == 1 ? "" : "s") << "\n";
  if (al.approximate) {
    std::cerr << "vlrface: warning: the Haar fallback detector was used: alignment is approximate\n";
  }
  for (std::size_t i = 0; i < al.no_face.size() && i < 10; ++i) {
    std::cerr << "vlrface: no usable face: " << al.no_face[i] << "\n";
  }
  if (al.no_face.size() > 10) {
    std::cerr << "vlrface: ... and " << al.no_face.size() - 10 << " more (see --json)\n";
  }
}

json report_json(const Report& rep, const std::string& dataset, double calibrate,
                 const RunOptions& ro) {
  const AlignmentReport& al = rep.alignment;
  json out = {{"dataset", dataset},
              {"model", rep.model_id},
              {"precision",
               {{"embedder", rep.embedder_precision},
                {"detector", rep.detector_precision},
                {"calibration", rep.calibration.empty() ? json(nullptr) : json(rep.calibration)}}},
              {"protocol",
               {{"decision", "same person iff similarity > threshold"},
                {"folds", rep.folds},
                {"fold_std", "sample standard deviation over folds (ddof = 1)"},
                {"lrlr", "both faces of a pair at the row's size"},
                {"hrlr", "first face of a pair at full resolution, second at the row's size"},
                {"identification", "gallery enrolled at full resolution, probes at the row's size"},
                {"no_face", "pairs with such an image score -1; such probes are misses"},
                {"matched_template_sizes", ro.matched_sizes},
                {"native", {{"canvas", {ro.native.canvas.width, ro.native.canvas.height}},
                            {"jpeg_quality", ro.native.jpeg_quality},
                            {"h264_crf", ro.native.h264_crf < 0 ? json(nullptr)
                                                                : json(ro.native.h264_crf)},
                            {"detector_upsample", ro.detection.upsample},
                            {"true_landmarks_rows", ro.native_true_landmarks},
                            {"refine_below_px", ro.detection.refine_below_px},
                            {"refine_face_px", ro.detection.refine_face_px}}}}},
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
               {{"pairs", rep.results.front().lrlr ? rep.results.front().lrlr->scores.size() : 0},
                {"pairs_with_missing_face", rep.pairs_with_missing_face},
                {"identities", rep.identities},
                {"gallery_images", rep.gallery_images},
                {"probes", rep.probes},
                {"probes_without_face", rep.probes_without_face}}}};
  json results = json::array();
  for (const auto& r : rep.results) {
    const Condition& c = r.condition;
    json j = {{"kind", c.kind_name()},
              {"resolution", c.kind == Condition::Kind::kFull ? kAlignedSize : c.px},
              {"recovery", c.path},
              // Kept from the earlier format: the simulated rows' upscaler (null at 112 px).
              {"upscaler", c.kind == Condition::Kind::kSimulated ? json(c.path) : json(nullptr)},
              {"seconds", r.seconds}};
    if (r.lrlr) {
      j["verification"] = verification_json(*r.lrlr, calibrate);  // LR-LR, as before
    }
    if (r.hrlr) j["verification_hrlr"] = verification_json(*r.hrlr, calibrate);
    if (r.identification) {
      j["identification"] = {{"probes", r.identification->probes},
                             {"rank1", r.identification->rank(1)},
                             {"rank5", r.identification->rank(5)},
                             {"cmc_hits", r.identification->hits}};
      if (!r.identification->searches.empty()) {
        json open = json::object();
        for (const double f : {1e-1, 1e-2}) {
          const auto p = eval::tpir_at_fpir(r.identification->searches, f);
          open[f == 1e-1 ? "1e-1" : "1e-2"] = {{"fpir", p.far}, {"tpir", p.tar}, {"threshold", p.threshold}};
        }
        j["identification"]["open_set"] = open;
        if (r.identification->product) {
          j["identification"]["at_product_thresholds"] = point_json(*r.identification->product);
          j["identification"]["at_product_thresholds"]["note"] =
              "open-set: tar is TPIR, far is FPIR; each probe judged with its own face's threshold";
        }
      }
    }
    if (c.kind == Condition::Kind::kNative) {
      j["detection"] = {{"images", r.images},
                        {"found", r.found},
                        {"rate", r.images ? static_cast<double>(r.found) / r.images : 0.0},
                        {"native_px_error", r.native_px_error}};
      j["recoveries"] = r.recoveries;
    }
    j["gap_recovered"] = r.gap_lrlr ? json(*r.gap_lrlr) : json(nullptr);
    j["gap_recovered_hrlr"] = r.gap_hrlr ? json(*r.gap_hrlr) : json(nullptr);
    for (const auto& [key, d] : {std::pair{"paired_vs_reference_hrlr", &r.vs_reference},
                                 std::pair{"paired_vs_112", &r.vs_full}}) {
      j[key] = *d ? json{{"mean", (*d)->difference.mean},
                         {"std", (*d)->difference.std},
                         {"per_fold", (*d)->per_fold}}
                  : json(nullptr);
    }
    results.push_back(j);
  }
  out["results"] = results;
  return out;
}

void write_plots(const Report& rep, const std::string& dataset, const fs::path& dir) {
  if (rep.folds == 0) {
    spdlog::warn("--plots: the dataset has no pairs.txt; no ROC curve or histogram to draw");
    return;
  }
  fs::create_directories(dir);
  const std::string name = fs::path(dataset).filename().string();
  std::vector<plot::RocSeries> series;
  for (const auto& r : rep.results) {
    const Verification& v = r.hrlr ? *r.hrlr : *r.lrlr;
    series.push_back({r.condition.label(), eval::roc_curve(v.scores)});
    std::vector<double> genuine, impostor;
    for (const auto& s : v.scores) (s.genuine ? genuine : impostor).push_back(s.score);
    write_text(dir / ("hist_" + file_key(r.condition) + ".svg"),
               plot::histogram_svg(genuine, impostor,
                                   name + " " + r.condition.label() +
                                       (r.hrlr ? " (HR-LR)" : "") + " — " + rep.model_id,
                                   v.best_threshold));
  }
  write_text(dir / "roc.svg", plot::roc_svg(series, name + " ROC (HR-LR) — " + rep.model_id));
}

}  // namespace vlrface::evaluation
