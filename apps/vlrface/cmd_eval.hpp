// vlrface eval — accuracy of the pipeline on a face dataset, per resolution and upscaler.
#pragma once

#include <string>

#include "context.hpp"

namespace CLI {
class App;
}

namespace vlrface::cli {

struct EvalOptions {
  std::string dataset;
  std::string resolutions = "112,32,24,16";  // 112 or "full": no degradation
  std::string upscalers = "bicubic";
  std::string native;                      // native face sizes, e.g. "16,24,32"; empty: none
  std::string native_paths = "base,auto";  // recovery paths of the native rows
  int jpeg = 0;                            // native frames: JPEG quality; 0: no compression
  int h264 = -1;                           // native frames: H.264 CRF (0..51); -1: none
  std::string canvas = "640x480";          // native frames: the camera frame size
  double detect_upsample = 1;              // frames enlarged by this before detection
  bool native_true_landmarks = false;
  std::string matched_templates;           // matched-template sizes, e.g. "12,16,20,24,32"
  int refine_below = -1;                   // detector landmark refinement (-1: its default)
  int refine_face = -1;      // native rows again from the dataset's landmarks
  bool quiet = false;                      // no progress on stderr
  std::string json;       // empty: no JSON report
  std::string plots;      // empty: no figures
  double calibrate = -1;  // target FAR; < 0: off
  int jobs = 2;
  int limit_folds = 0;  // 0: every fold of pairs.txt
  std::string precision;           // embedder, "fp32" or "int8"; empty: its manifest's default
  std::string detector_precision;  // YuNet, where images are aligned by detection; same
  bool detect = false;             // align every image by detection, even with landmarks.csv
  int calibration_count = 32;      // int8: dataset images whose activations set the ranges
};

// Registers the "eval" subcommand on `app`, storing its options in `o`; returns it.
CLI::App* add_eval_command(CLI::App& app, EvalOptions& o);

int run_eval(const GlobalOptions& g, const EvalOptions& o);

}  // namespace vlrface::cli
