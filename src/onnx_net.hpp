// Private: loading an ONNX model file into OpenCV DNN, the same way for every stage.
#pragma once

#include <opencv2/dnn.hpp>
#include <string>

#include "vlrface/error.hpp"
#include "vlrface/models.hpp"

namespace vlrface::detail {

// CPU, OpenCV's own backend; a file OpenCV cannot parse becomes Error(stage, "<file>: ...").
inline cv::dnn::Net load_onnx_net(const ModelInfo& model, const std::string& stage) {
  cv::dnn::Net net;
  try {
    net = cv::dnn::readNetFromONNX(model.path.string());
  } catch (const cv::Exception& e) {
    throw Error(stage, model.path.string() + ": cannot be loaded as ONNX (" + e.err + ")");
  }
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  return net;
}

}  // namespace vlrface::detail
