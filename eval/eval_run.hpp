// eval/eval_run.hpp — runs the one face path (Pipeline) over a dataset and scores it.
//
// Usage:
//   vlrface::evaluation::RunOptions o;  o.simulated = parse_conditions("112,16", "bicubic");
//   o.native = parse_native("16,24", "base,auto");
//   vlrface::evaluation::Report r = vlrface::evaluation::run(store, dataset, o);
// Every image goes through Pipeline once at full resolution (the 112 px row, the gallery of
// identification and the high-resolution side of HR-LR pairs). Simulated rows shrink that aligned
// face (Pipeline in simulate mode, from the image read again and the face found in it: only the
// face's landmarks are kept between passes, so memory does not grow with crops). Native rows shrink the whole image so
// that its face is N px wide, place it in a camera-sized frame, and let Pipeline detect, align,
// recover and embed it as it would a camera frame; a face not found counts as wrong.
// Both verification protocols are scored for every row: LR-LR (both faces small) and HR-LR (the
// first face of each pair at full resolution, as people are enrolled). Identification always
// matches against a gallery enrolled at full resolution.
// Thread safety: run() uses `jobs` worker threads of its own; call it from one thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "native_frame.hpp"
#include "vlrface/dataset.hpp"
#include "vlrface/detect.hpp"
#include "vlrface/eval.hpp"
#include "vlrface/precision.hpp"

namespace vlrface {
class ModelStore;
}

namespace vlrface::evaluation {

struct Condition {
  enum class Kind { kFull, kSimulated, kNative };
  Kind kind = Kind::kFull;
  int px = 0;        // simulated or native face size
  std::string path;  // simulated: bicubic, dsr, bicubic+adapter, dsr+adapter; native: also
                     // base (no recovery: aligned to 112 px, base model) and auto (Pipeline's)
  std::string label() const;  // "112 px", "16 px sim bicubic", "16 px native auto"
  std::string kind_name() const;  // "full", "simulated", "native"
};

// "112,16" x "bicubic,dsr+adapter" -> the full row and the simulated rows (Error("cli") on a
// bad item); native: sizes x paths.
std::vector<Condition> parse_simulated(const std::string& resolutions, const std::string& paths);
std::vector<Condition> parse_native(const std::string& sizes, const std::string& paths);
// "12,16,24" -> {12, 16, 24}: sorted, each once, each 4..111 (Error("cli") naming `option`).
std::vector<int> parse_sizes(const std::string& sizes, const char* option);
// The template size a small face of measured size `px` is compared with: the one of `sizes`
// (non-empty) nearest to it in log scale, the smaller on a tie (12 and 24: 17 -> 12, 17.5 -> 24).
int matched_template_size(const std::vector<int>& sizes, float px);

struct Verification {
  std::vector<eval::ScoredPair> scores;
  eval::KFoldResult kfold;
  double auc = 0, eer = 0, best_threshold = 0;
  eval::RocPoint tar_1e2, tar_1e3;
  std::optional<eval::RocPoint> calibration;  // at RunOptions::calibrate_far
  // At the product's own thresholds (each face's, from the manifest: calibrated on validation
  // HR-LR pairs): same iff similarity > the small face's threshold (HR-LR), > the stricter of
  // the two (LR-LR). threshold: their mean over the pairs whose faces were found.
  std::optional<eval::RocPoint> product;
};

struct ConditionResult {
  Condition condition;
  double seconds = 0;
  std::optional<Verification> lrlr, hrlr;  // hrlr: not for the full row
  std::optional<eval::IdentificationResult> identification;  // gallery at full resolution
  // Native rows: images whose small face is scored (both sides of the pairs and the probes;
  // an image only in the gallery is enrolled at full resolution and never shrunk), those whose
  // face was found in the frame, and how Pipeline recovered them.
  int images = 0, found = 0;
  std::map<std::string, int> recoveries;
  double native_px_error = 0;  // mean |measured native size / target - 1| over found faces
  // Against the reference row of the same kind and size (simulated: bicubic; native: base)
  // and the 112 px row: share of the accuracy gap recovered and paired per-fold differences.
  std::optional<double> gap_lrlr, gap_hrlr;
  std::optional<eval::PairedDifference> vs_reference, vs_full;
};

struct RunOptions {
  std::vector<Condition> conditions;  // the full row is always run (it is everyone's reference)
  int jobs = 2;
  int limit_folds = 0;
  double calibrate_far = -1;
  bool detect = false;  // align by detection even where landmarks.csv has the image
  std::string embedder = "edgeface_xxs";
  std::optional<Precision> embedder_precision;
  DetectorOptions detection;
  NativeFrameOptions native;
  // Native rows: also run every path from the dataset's landmarks mapped into the frame (path
  // "<path>@landmarks"), on the same found faces: the cost of the detector's landmark error.
  bool native_true_landmarks = false;
  // Also score every simulated and native row with resolution-matched templates (path
  // "<path>+matched"): the full-resolution side of an HR-LR pair, and each gallery face, is
  // compared as the normalised sum of its full-resolution embedding and its embedding as a face
  // of the small face's size on the row's path (Pipeline::embed_small), the size being the one
  // of these nearest (in log scale) to the small face's (native rows: its measured size).
  // Empty: not run.
  std::vector<int> matched_sizes;
  int calibration_count = 32;
  std::function<void(const std::string& stage, std::size_t done, std::size_t total)> progress;
};

struct AlignmentReport {
  int images = 0, from_landmarks = 0, from_detector = 0;
  bool forced_detection = false;
  std::string detector;
  bool approximate = false;
  std::vector<std::string> no_face;  // "file: reason"
  double seconds = 0;
};

struct Report {
  std::string model_id, embedder_precision, detector_precision, calibration;
  int folds = 0, identities = 0, gallery_images = 0, probes = 0;
  int pairs_with_missing_face = 0, probes_without_face = 0;
  // --limit-folds on a dataset that also has gallery.txt + probe.txt: only the selected folds'
  // images were read, so there is no identification.
  bool identification_skipped = false;
  AlignmentReport alignment;
  std::vector<ConditionResult> results;  // the full row first
};

Report run(const ModelStore& store, const EvalDataset& dataset, const RunOptions& options);

}  // namespace vlrface::evaluation
