// eval: the one face path over a dataset (eval/eval_run.hpp), printed, written as JSON and plotted
// (eval/eval_report.hpp).
#include "cmd_eval.hpp"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "eval_report.hpp"
#include "eval_run.hpp"
#include "machine_facts.hpp"
#include "h264.hpp"
#include "vlrface/dataset.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/precision.hpp"
#include "vlrface/progress.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vlrface::cli {
namespace {
using Clock = std::chrono::steady_clock;
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
  const evaluation::Report report = evaluation::run(ctx.store(), dataset, ro);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const std::string name = fs::absolute(o.dataset).lexically_normal().string();
  evaluation::print_report(std::cout, report, name, o.calibrate, seconds, o.jobs);
  if (!o.json.empty()) {
    json j = evaluation::report_json(report, name, o.calibrate, ro);
    j["date"] = utc_now();
    j["machine"] = machine_info();
    j["jobs"] = o.jobs;
    j["seconds"] = seconds;
    std::ofstream f(o.json);
    f << j.dump(2) << "\n";
    if (!f) throw Error("eval", o.json + ": cannot be written");
  }
  if (!o.plots.empty()) evaluation::write_plots(report, name, o.plots);
  return 0;
}

}  // namespace vlrface::cli
