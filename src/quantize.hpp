// Private to the core: turning a float cv::dnn::Net into OpenCV's int8 one, or saying why not.
#pragma once

#include <opencv2/dnn.hpp>
#include <string>
#include <vector>

namespace vlrface::detail {

// Returns `net` quantized with Net::quantize (float input and output) on `calibration`, an NCHW
// blob of calibration inputs, already normalised as the network wants them. `outputs` are the
// output names the caller will forward to; the quantized net is run once on the first
// calibration input through them, because OpenCV 4.6 only finds a layer without an int8
// implementation when it first runs the quantized net, not in quantize().
// Throws Error(stage, ...) naming `model` and quoting OpenCV's message when either step fails.
cv::dnn::Net quantize_int8(cv::dnn::Net& net, const cv::Mat& calibration,
                           const std::vector<std::string>& outputs, const std::string& stage,
                           const std::string& model);

// The names the int8 net gives the float outputs `outputs` (quantize appends a float conversion
// after each, so forwarding to the original names would return int8 blobs).
std::vector<std::string> int8_output_names(const std::vector<std::string>& outputs);

}  // namespace vlrface::detail
