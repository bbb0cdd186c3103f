#include "vlrface/upscale.hpp"

#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "onnx_net.hpp"
#include "vlrface/error.hpp"
#include "vlrface/models.hpp"

namespace vlrface {

cv::Mat BicubicUpscaler::upscale(const cv::Mat& face, int out_size) {
  if (face.empty()) throw Error("upscale", "empty face image");
  if (face.cols == out_size && face.rows == out_size) return face.clone();
  cv::Mat out;
  cv::resize(face, out, cv::Size(out_size, out_size), 0, 0,
             face.cols > out_size ? cv::INTER_AREA : cv::INTER_CUBIC);
  return out;
}

struct DsrUpscaler::Impl {
  cv::dnn::Net net;
  ModelInfo model;
};

DsrUpscaler::DsrUpscaler(const ModelInfo& model) : impl_(std::make_unique<Impl>()) {
  impl_->model = model;
  if (model.input_width <= 0 || model.input_width != model.input_height) {
    throw Error("upscale", model.name + ": manifest gives no square input size");
  }
  impl_->net = detail::load_onnx_net(model, "upscale");
  // A wrong file (another network with the same input) shows up as a wrong output shape here,
  // at load time, rather than as garbage faces later.
  cv::Mat grey(model.input_height, model.input_width, CV_8UC3, cv::Scalar::all(128));
  const cv::Mat out = upscale(grey, model.input_width);
  if (out.size() != grey.size()) {
    throw Error("upscale", model.path.string() + ": not a DSR network (output " +
                               std::to_string(out.cols) + "x" + std::to_string(out.rows) + ")");
  }
}

DsrUpscaler::~DsrUpscaler() = default;

cv::Mat DsrUpscaler::upscale(const cv::Mat& face, int out_size) {
  if (face.empty() || face.type() != CV_8UC3) {
    throw Error("upscale", "DSR expects a non-empty 8-bit BGR face image");
  }
  const ModelInfo& m = impl_->model;
  const int n = m.input_width;
  // The network refines a bicubic upscale made here, as in training (tools/train_dsr.py).
  cv::Mat base = face;
  if (face.cols != n || face.rows != n) {
    cv::resize(face, base, cv::Size(n, n), 0, 0, face.cols > n ? cv::INTER_AREA : cv::INTER_CUBIC);
  }
  const Normalisation& norm = m.norm;
  impl_->net.setInput(cv::dnn::blobFromImage(base, norm.scale, cv::Size(n, n),
                                             cv::Scalar(norm.mean[0], norm.mean[1], norm.mean[2]),
                                             norm.swap_rb, false));
  cv::Mat out = impl_->net.forward();
  if (out.dims != 4 || out.size[1] != 3) {
    throw Error("upscale", m.path.string() + ": output is not 1x3xHxW");
  }
  const int h = out.size[2], w = out.size[3];
  std::vector<cv::Mat> planes;
  for (int c = 0; c < 3; ++c) {
    cv::Mat plane(h, w, CV_32F, out.ptr<float>(0, c));
    cv::Mat u8;
    // Inverse of blobFromImage: pixel = value / scale + mean, saturated to 0..255.
    plane.convertTo(u8, CV_8U, 1.0 / norm.scale, norm.mean[c]);
    planes.push_back(u8);
  }
  if (norm.swap_rb) std::swap(planes[0], planes[2]);
  cv::Mat bgr;
  cv::merge(planes, bgr);
  if (bgr.cols != out_size || bgr.rows != out_size) {
    cv::resize(bgr, bgr, cv::Size(out_size, out_size), 0, 0, cv::INTER_AREA);
  }
  return bgr;
}

std::string dsr_model_name(int resolution) {
  return "dsr" + std::to_string(resolution);
}

std::vector<std::string> upscaler_kinds() {
  return {"bicubic", "dsr"};
}

std::unique_ptr<Upscaler> make_upscaler(const std::string& kind, int resolution,
                                        const ModelStore& store) {
  if (kind == "bicubic") return std::make_unique<BicubicUpscaler>();
  if (kind == "dsr") {
    // The network of this size, else the one trained nearest to it: DSR adds a learned residual
    // to a bicubic upscale, so any input size works, best near the size it was trained for.
    std::string name = dsr_model_name(resolution);
    if (!store.has(name)) name = store.upscaler_for(resolution);
    if (name.empty()) {
      throw Error("upscale", "no DSR model for " + std::to_string(resolution) + " px (no 'dsr*' "
                                 "model in " + store.dir().string() + "). " + model_setup_hint());
    }
    return std::make_unique<DsrUpscaler>(store.get(name));
  }
  throw Error("upscale", "unknown upscaler '" + kind + "' (known: bicubic, dsr)");
}

std::unique_ptr<Upscaler> make_view_upscaler(const ModelStore& store) {
  if (!store.has(kViewUpscalerModel)) return nullptr;
  return std::make_unique<DsrUpscaler>(store.get(kViewUpscalerModel));
}

}  // namespace vlrface
