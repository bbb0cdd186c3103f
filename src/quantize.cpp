#include "quantize.hpp"

#include <filesystem>
#include <opencv2/core/utils/logger.hpp>

#include "vlrface/error.hpp"

namespace vlrface::detail {
namespace {

// OpenCV's own words, without the "OpenCV(4.6.0) /build/path/file.cpp:123: error: (-215...)"
// prefix, which says nothing to a user, but keeping the file: it tells which layer type refused.
std::string opencv_message(const cv::Exception& e) {
  const std::string file = std::filesystem::path(e.file).filename().string();
  std::string what = e.err;
  if (e.code == cv::Error::StsAssert) what = "assertion " + what + " failed";
  return file.empty() ? what : what + " (" + file + ")";
}

// The failed shape inference of an unquantizable net prints several [ERROR] lines before it
// throws; the exception says the same in one line. The level is process-wide, so it is lowered
// only for the duration of one attempt.
class QuietOpenCvLog {
 public:
  QuietOpenCvLog()
      : saved_(cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT)) {}
  ~QuietOpenCvLog() { cv::utils::logging::setLogLevel(saved_); }
  QuietOpenCvLog(const QuietOpenCvLog&) = delete;
  QuietOpenCvLog& operator=(const QuietOpenCvLog&) = delete;

 private:
  cv::utils::logging::LogLevel saved_;
};

// The first item of an NCHW batch, as a batch of one.
cv::Mat first_input(const cv::Mat& blob) {
  std::vector<cv::Range> ranges(static_cast<std::size_t>(blob.dims), cv::Range::all());
  ranges[0] = cv::Range(0, 1);
  return blob(ranges).clone();
}

// Quantizes and runs the result once; returns the empty string and sets `out`, or OpenCV's
// message.
std::string try_quantize(cv::dnn::Net& net, const cv::Mat& calibration,
                         const std::vector<std::string>& outputs, cv::dnn::Net& out) {
  const QuietOpenCvLog quiet;
  try {
    cv::dnn::Net q = net.quantize(calibration, CV_32F, CV_32F);
    q.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    q.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    q.setInput(first_input(calibration));
    std::vector<cv::Mat> outs;
    q.forward(outs, int8_output_names(outputs));
    out = q;
    return {};
  } catch (const cv::Exception& e) {
    return opencv_message(e);
  }
}

}  // namespace

std::vector<std::string> int8_output_names(const std::vector<std::string>& outputs) {
  // OpenCV 4.6 names the float conversion it appends after output `x` "dequantize/x".
  std::vector<std::string> names;
  for (const auto& o : outputs) names.push_back("dequantize/" + o);
  return names;
}

cv::dnn::Net quantize_int8(cv::dnn::Net& net, const cv::Mat& calibration,
                           const std::vector<std::string>& outputs, const std::string& stage,
                           const std::string& model) {
  if (calibration.empty() || calibration.dims != 4) {
    throw Error(stage, model + ": int8 needs calibration inputs (none were given)");
  }
  const std::string prefix =
      model + ": int8 unavailable in OpenCV " + cv::getVersionString() + ": ";
  cv::dnn::Net q;
  const int n = calibration.size[0];
  const std::string batch_error = try_quantize(net, calibration, outputs, q);
  if (batch_error.empty()) return q;
  if (n == 1) throw Error(stage, prefix + batch_error);
  // Some exported graphs hold batch-1 constants that a calibration batch cannot broadcast
  // against; one input tells whether the network could be quantized at all, which is the
  // question that matters. A one-input calibration is not kept: its ranges would be too narrow.
  const std::string single_error = try_quantize(net, first_input(calibration), outputs, q);
  if (single_error.empty()) {
    throw Error(stage, prefix + "Net::quantize fails on a batch of " + std::to_string(n) +
                           " calibration inputs (" + batch_error +
                           ") and a single input gives too narrow int8 ranges to use");
  }
  throw Error(stage, prefix + single_error + "; with a batch of " + std::to_string(n) +
                         " calibration inputs: " + batch_error);
}

}  // namespace vlrface::detail
