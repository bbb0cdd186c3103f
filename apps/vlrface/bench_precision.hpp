// `vlrface bench --precision fp32,int8`: each model at each precision, timed interleaved in one
// process, or "unavailable" with the reason OpenCV gave when it tried to quantize it here.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "vlrface/bench.hpp"
#include "vlrface/models.hpp"
#include "vlrface/precision.hpp"

namespace vlrface::cli {

// Inputs that set the int8 ranges: frames for the detector, aligned faces for the embedder.
struct CalibrationSet {
  std::vector<cv::Mat> frames, faces;
  std::string source;  // for the report
};

// `count` images spread evenly over DIR/landmarks.csv (sorted by file, so over identities): each
// image as a frame, and its face aligned with the listed landmarks.
CalibrationSet load_calibration_set(const std::string& dir, int count);

struct PrecisionRow {
  std::string model;  // manifest name
  std::string stage;  // "detect" or "embed"
  Precision precision = Precision::kFp32;
  bool available = true;
  std::string note;     // OpenCV's reason when unavailable
  double build_ms = 0;  // construction, including Net::quantize for int8
  SampleStats stats;
  // Agreement of this precision with fp32 on the bench input (set for int8 rows): embed, cosine
  // of the two embeddings; detect, the largest landmark distance in pixels between the two
  // best faces (-1 when either finds none).
  double agreement = 0;
};

// The networks of every (model, precision), built once; timed at the current thread count.
class PrecisionBench {
 public:
  // Builds YuNet (when the store has it) and `embedder` at each of `precisions`, int8 ones
  // quantized on `calibration`. A model that cannot be built at a precision becomes an
  // unavailable row; nothing here throws for it.
  PrecisionBench(const ModelStore& store, const std::string& embedder,
                 const std::vector<Precision>& precisions, const CalibrationSet& calibration);
  ~PrecisionBench();

  // Times detect on `frame` and embed on `face`, the precisions of one model interleaved.
  std::vector<PrecisionRow> run(const cv::Mat& frame, const cv::Mat& face, int warmup, int repeat);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

void print_precision_rows(const std::vector<PrecisionRow>& rows);
nlohmann::json precision_rows_json(const std::vector<PrecisionRow>& rows);

}  // namespace vlrface::cli
