// eval: the one face path over a dataset (eval/eval_run.hpp), printed, written as JSON and plotted.
#include "cmd_eval.hpp"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "eval_run.hpp"
#include "machine_facts.hpp"
#include "h264.hpp"
#include "vlrface/align.hpp"
#include "vlrface/dataset.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/plot.hpp"
#include "vlrface/precision.hpp"
#include "vlrface/progress.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vlrface::cli {
namespace {

using evaluation::Condition;
using evaluation::ConditionResult;
using evaluation::Report;
using evaluation::Verification;
using Clock = std::chrono::steady_clock;

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

std::string acc_text(const std::optional<Verification>& v) {
  if (!v) return "-";
  return fmt("%6.2f", 100 * v->kfold.accuracy.mean) + " ± " + fmt("%.2f", 100 * v->kfold.accuracy.std);
}

void print_report(const Report& rep, const std::string& dataset, double calibrate, double seconds,
                  int jobs) {
  const evaluation::AlignmentReport& al = rep.alignment;
  std::cout << "dataset  " << dataset << "\nmodel    " << rep.model_id << " ("
            << rep.embedder_precision << ")\n";
  if (!rep.calibration.empty()) std::cout << "int8     calibrated on " << rep.calibration << "\n";
  if (rep.folds > 0) {
    int genuine = 0;
    const auto& scores = rep.results.front().lrlr->scores;
    for (const auto& s : scores) genuine += s.genuine;
    std::cout << "pairs    " << scores.size() << " in " << rep.folds << " folds (" << genuine
              << " genuine, " << scores.size() - genuine << " impostor; "
              << rep.pairs_with_missing_face << " with a face not found)\n";
  }
  if (rep.identification_skipped) {
    std::cout << "ident.   skipped: --limit-folds reads only the images of the selected folds "
                 "(run without it for rank-1)\n";
  }
  if (rep.probes > 0) {
    std::cout << "ident.   " << rep.probes << " probes (" << rep.probes_without_face
              << " with no face), " << rep.identities << " identities, " << rep.gallery_images
              << " gallery images (enrolled at full resolution)\n";
  }
  std::cout << "aligned  " << al.images << " images (" << al.from_landmarks
            << " from landmarks.csv, " << al.from_detector << " by "
            << (al.detector.empty() ? "the detector" : al.detector)
            << (al.forced_detection ? ", --detect" : "") << ") in " << fmt("%.1f", al.seconds)
            << " s; no usable face: " << al.no_face.size() << "\n\n";

  std::printf("%-9s %-4s %-15s %6s %s %s %8s %7s %6s %6s %7s\n", "kind", "px", "recovery", "found",
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
    std::printf("%-9s %-4d %-15s %6s %s %s %8s %7s %6s %6s %7.1f\n", c.kind_name().c_str(),
                c.kind == Condition::Kind::kFull ? kAlignedSize : c.px, c.path.c_str(),
                nat && r.images ? fmt("%.1f", 100.0 * r.found / r.images).c_str() : "-",
                pad(acc_text(r.lrlr), 15).c_str(), pad(acc_text(r.hrlr), 15).c_str(),
                main ? fmt("%.2f", 100 * main->tar_1e3.tar).c_str() : "-",
                r.identification ? fmt("%.2f", 100 * r.identification->rank(1)).c_str() : "-",
                gap(r.gap_lrlr).c_str(), gap(r.gap_hrlr).c_str(), r.seconds);
  }
  std::cout << "\naccuracy: " << rep.folds << "-fold, mean ± sample std over folds (class-"
            << "balanced: the mean of the genuine and impostor rates). LR-LR: both "
            << "faces of a pair small; HR-LR: the first at full resolution. found: native faces "
            << "detected near where they were placed (a miss counts as a wrong pair). gap: share of "
            << "the (112 px - reference) accuracy gap recovered, reference = bicubic (simulated) "
            << "or base (native); TAR@1e-3 and gapHR on HR-LR; rank-1 against a full-resolution "
            << "gallery.\n";
  bool header = false;
  for (const auto& r : rep.results) {
    if (!r.vs_reference) continue;
    if (!header) std::cout << "paired per-fold HR-LR differences against the reference row:\n";
    header = true;
    std::cout << "  " << r.condition.label() << ": " << signed_pct(r.vs_reference->difference)
              << "\n";
  }
  for (const auto& r : rep.results) {
    if (r.condition.kind != Condition::Kind::kNative || r.recoveries.empty()) continue;
    std::cout << "  " << r.condition.label() << " ran:";
    for (const auto& [k, v] : r.recoveries) std::cout << " " << k << " x" << v << ";";
    std::cout << " native size error " << fmt("%.1f", 100 * r.native_px_error) << " %\n";
  }
  if (calibrate > 0) {
    std::cout << "calibration: threshold for FAR " << calibrate << " over all impostor pairs "
              << "(HR-LR where there is one; same person iff similarity > threshold):\n";
    for (const auto& r : rep.results) {
      const Verification* v = r.hrlr ? &*r.hrlr : r.lrlr ? &*r.lrlr : nullptr;
      if (!v || !v->calibration) continue;
      std::cout << "  " << r.condition.label() << ": threshold "
                << fmt("%.4f", v->calibration->threshold) << " (FAR "
                << fmt("%.5f", v->calibration->far) << ", TAR "
                << fmt("%.2f", 100 * v->calibration->tar) << " %)\n";
    }
  }
  std::cout << "at the product's thresholds (manifest, per face; HR-LR where there is one):\n";
  for (const auto& r : rep.results) {
    const Verification* v = r.hrlr ? &*r.hrlr : r.lrlr ? &*r.lrlr : nullptr;
    const bool verified = v && v->product;
    const bool identified = r.identification && r.identification->product;
    if (!verified && !identified) continue;
    std::cout << "  " << r.condition.label() << ": ";
    if (verified) {
      std::cout << "FAR " << fmt("%.5f", v->product->far) << ", TAR "
                << fmt("%.2f", 100 * v->product->tar) << " % (mean threshold "
                << fmt("%.4f", v->product->threshold) << ")" << (identified ? "; " : "");
    }
    if (identified) {
      const auto& id = *r.identification->product;
      std::cout << "identification: FPIR " << fmt("%.4f", id.far) << ", TPIR "
                << fmt("%.2f", 100 * id.tar) << " %"
                << (verified ? "" : " (mean threshold " + fmt("%.4f", id.threshold) + ")");
    }
    std::cout << "\n";
  }
  bool open_set = false;
  for (const auto& r : rep.results) {
    if (!r.identification || r.identification->searches.empty()) continue;
    if (!open_set) {
      std::cout << "open-set identification (each probe also searched with its own template left "
                   "out; named iff best similarity > threshold): TPIR at FPIR 1e-1 / 1e-2:\n";
      open_set = true;
    }
    const auto a = eval::tpir_at_fpir(r.identification->searches, 1e-1);
    const auto b = eval::tpir_at_fpir(r.identification->searches, 1e-2);
    std::cout << "  " << r.condition.label() << ": " << fmt("%.2f", 100 * a.tar) << " / "
              << fmt("%.2f", 100 * b.tar) << " % (thresholds " << fmt("%.4f", a.threshold) << " / "
              << fmt("%.4f", b.threshold) << ")\n";
  }
  std::cout << "total " << fmt("%.1f", seconds) << " s with " << jobs << " job"
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

void write_json_report(const Report& rep, const std::string& dataset, double calibrate,
                       double seconds, int jobs, const evaluation::RunOptions& ro,
                       const fs::path& file) {
  const evaluation::AlignmentReport& al = rep.alignment;
  json out = {{"dataset", dataset},
              {"model", rep.model_id},
              {"precision",
               {{"embedder", rep.embedder_precision},
                {"detector", rep.detector_precision},
                {"calibration", rep.calibration.empty() ? json(nullptr) : json(rep.calibration)}}},
              {"date", utc_now()},
              {"machine", machine_info()},
              {"jobs", jobs},
              {"seconds", seconds},
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
  std::ofstream f(file);
  f << out.dump(2) << "\n";
  if (!f) throw Error("eval", file.string() + ": cannot be written");
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

}  // namespace

CLI::App* add_eval_command(CLI::App& app, EvalOptions& o) {
  auto* c = app.add_subcommand(
      "eval", "accuracy of the face path on a dataset: full resolution, simulated and native "
              "small faces (LFW-style pairs, gallery/probe)");
  c->add_option("--dataset", o.dataset,
                "dataset folder: images/<id>/<n>.jpg, pairs.txt and/or gallery.txt + probe.txt, "
                "optional landmarks.csv")
      ->required();
  c->add_option("--res", o.resolutions,
                "simulated rows: comma-separated sizes the aligned face is shrunk to; 112 or "
                "full: the full-resolution row (always run)")
      ->capture_default_str();
  c->add_option("--upscaler", o.upscalers, "simulated rows, comma-separated: bicubic, dsr, "
                "bicubic+adapter, dsr+adapter (+adapter: embedded by the adapted EdgeFace)")
      ->capture_default_str();
  c->add_option("--native", o.native,
                "native rows: comma-separated face sizes (e.g. 16,24,32); each image is shrunk "
                "whole so its face is that wide, put in a camera-sized frame and sent through "
                "detection, alignment, recovery and embedding");
  c->add_option("--native-paths", o.native_paths,
                "native rows, comma-separated: base (no recovery), auto (the product's choice), "
                "bicubic, dsr, bicubic+adapter, dsr+adapter (base is always run)")
      ->capture_default_str();
  c->add_option("--jpeg", o.jpeg, "native rows: JPEG quality of the frame (1..100; 0: none)")
      ->capture_default_str();
  c->add_option("--h264", o.h264,
                "native rows: code each frame as an H.264 keyframe at this CRF (0..51; 23 is "
                "ffmpeg's default, 28-32 a camera's medium stream), after --jpeg if both");
  c->add_option("--canvas", o.canvas, "native rows: camera frame size WxH")->capture_default_str();
  c->add_option("--detect-upsample", o.detect_upsample,
                "enlarge frames by this factor before detection (2: finds ~16 px faces, 4x the "
                "cost)")
      ->capture_default_str();
  c->add_option("--refine-below", o.refine_below,
                "detector: faces narrower than this (px) are detected again, enlarged, for their "
                "landmarks (0: off; default: the detector's)");
  c->add_option("--refine-face", o.refine_face,
                "detector: the face width (px) refinement enlarges to (default: the detector's)");
  c->add_flag("--native-true-landmarks", o.native_true_landmarks,
             "native rows: also run each path from the dataset's landmarks mapped into the "
             "frame (rows 'PATH@landmarks', on the faces the detector found): what the "
             "detector's landmark error at that size costs");
  c->add_option("--matched-templates", o.matched_templates,
                "also score each simulated and native row against resolution-matched templates "
                "(rows 'PATH+matched'): the full-resolution face is compared as the sum of its "
                "own embedding and its embedding shrunk to the template size, of these "
                "comma-separated sizes, nearest the small face's (e.g. 12,16,20,24,32)");
  c->add_option("--json", o.json, "write every figure to this JSON file");
  c->add_option("--plots", o.plots, "write ROC curves and similarity histograms (SVG) here");
  c->add_option("--calibrate", o.calibrate,
                "print, per row, the similarity threshold giving this FAR (HR-LR pairs)");
  c->add_option("--jobs", o.jobs, "worker threads, each with its own networks")
      ->capture_default_str();
  c->add_option("--limit-folds", o.limit_folds,
                "use only the first K folds of pairs.txt and read only the images they use "
                "(quick runs: no identification)");
  c->add_option("--precision", o.precision,
                "embedder precision, fp32 or int8 (default: the model's, from its manifest)");
  c->add_option("--detector-precision", o.detector_precision,
                "YuNet precision where images are aligned by detection (see --detect)");
  c->add_flag("--detect", o.detect,
              "align every image by detection, ignoring landmarks.csv (measures the detector)");
  c->add_flag("--quiet", o.quiet, "no progress on stderr (as the global -q)");
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
  if (o.jpeg < 0 || o.jpeg > 100) throw Error("cli", "--jpeg must be 0 (none) to 100");
  if (o.h264 != -1 && (o.h264 < 0 || o.h264 > 51)) {
    throw Error("cli", "--h264 takes a CRF between 0 and 51 (23: ffmpeg's default)");
  }
  if (o.h264 != -1 && !evaluation::h264_available()) {
    throw Error("cli", "--h264: this build has no libavcodec with libx264 (install "
                       "libavcodec-dev and libx264 and rebuild)");
  }
  if (!(o.detect_upsample >= 0.25 && o.detect_upsample <= 4)) {
    throw Error("cli", "--detect-upsample must be between 0.25 and 4");
  }
  evaluation::RunOptions ro;
  {
    int w = 0, h = 0;
    char x = 0;
    std::istringstream ss(o.canvas);
    if (!(ss >> w >> x >> h) || x != 'x' || w < 32 || h < 32 || w > 4096 || h > 4096) {
      throw Error("cli", "--canvas must be WxH, e.g. 640x480, not '" + o.canvas + "'");
    }
    ro.native.canvas = cv::Size(w, h);
    if (o.h264 != -1 && (w % 2 || h % 2)) {
      throw Error("cli", "--h264 needs an even --canvas (4:2:0 colour), not '" + o.canvas + "'");
    }
  }
  ro.conditions = evaluation::parse_simulated(o.resolutions, o.upscalers);
  if (!o.native.empty()) {
    for (auto& c : evaluation::parse_native(o.native, o.native_paths)) ro.conditions.push_back(c);
  }
  ro.native.jpeg_quality = o.jpeg;
  ro.native.h264_crf = o.h264;
  ro.detection.upsample = o.detect_upsample;
  if (o.native_true_landmarks && o.native.empty()) {
    throw Error("cli", "--native-true-landmarks needs native rows (--native SIZES)");
  }
  ro.native_true_landmarks = o.native_true_landmarks;
  if (!o.matched_templates.empty()) {
    ro.matched_sizes = evaluation::parse_sizes(o.matched_templates, "--matched-templates");
  }
  if (o.refine_below != -1) {
    if (o.refine_below < 0 || o.refine_below > 1000) {
      throw Error("cli", "--refine-below takes a face width in pixels, 0 (off) to 1000");
    }
    ro.detection.refine_below_px = o.refine_below;
  }
  if (o.refine_face != -1) {
    if (o.refine_face < 16 || o.refine_face > 400) {
      throw Error("cli", "--refine-face takes a face width in pixels, 16 to 400");
    }
    ro.detection.refine_face_px = o.refine_face;
  }
  if (!o.precision.empty()) ro.embedder_precision = parse_precision(o.precision, "--precision");
  if (!o.detector_precision.empty()) {
    ro.detection.precision = parse_precision(o.detector_precision, "--detector-precision");
  }
  ro.jobs = o.jobs;
  ro.limit_folds = o.limit_folds;
  ro.calibrate_far = o.calibrate;
  ro.detect = o.detect;
  ro.embedder = g.embedder;
  ro.calibration_count = o.calibration_count;
  // The dataset first: a malformed file is reported before any model is loaded.
  const EvalDataset dataset = load_eval_dataset(o.dataset);
  Context ctx(g);
  (void)ctx.embedder_info();  // a missing model is reported before the slow passes
  // Where faces are found by detection (no landmarks, --detect, native rows), a missing YuNet
  // means the Haar fallback: said now, naming the missing file, not only after the run.
  if (o.detect || !dataset.has_landmarks() || !o.native.empty()) ctx.warn_if_detector_fallback();
  // Parallelism comes from the workers; OpenCV's own threads would only compete with them.
  if (o.jobs > 1) set_inference_threads(1);
  // One progress display per stage (full resolution, each simulated row, each native size).
  std::unique_ptr<Progress> progress;
  std::string stage_shown;
  const bool terminal = stderr_is_terminal();
  if (!o.quiet && !g.quiet) {
    ro.progress = [&](const std::string& stage, std::size_t done, std::size_t total) {
      if (!progress && stage == stage_shown) return;  // that stage is already finished
      if (!progress || stage != stage_shown) {
        progress.reset();  // finishes the previous stage's display
        progress = std::make_unique<Progress>(std::cerr, terminal, "eval: " + stage, total);
        stage_shown = stage;
      }
      progress->update(done);
      if (done >= total) progress.reset();
    };
  }
  const Report report = evaluation::run(ctx.store(), dataset, ro);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const std::string name = fs::absolute(o.dataset).lexically_normal().string();
  print_report(report, name, o.calibrate, seconds, o.jobs);
  if (!o.json.empty()) write_json_report(report, name, o.calibrate, seconds, o.jobs, ro, o.json);
  if (!o.plots.empty()) write_plots(report, name, o.plots);
  return 0;
}

}  // namespace vlrface::cli
