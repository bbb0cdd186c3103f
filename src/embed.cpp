#include "vlrface/embed.hpp"

#include <cmath>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "quantize.hpp"
#include "onnx_net.hpp"
#include "vlrface/error.hpp"
#include "vlrface/models.hpp"

namespace vlrface {

struct Embedder::Impl {
  cv::dnn::Net net;
  ModelInfo model;
  int dim = 0;
  Precision precision = Precision::kFp32;
  std::vector<std::string> outputs;  // empty: the network's last layer (float)

  cv::Mat blob(const std::vector<cv::Mat>& faces) const {
    const cv::Size size(model.input_width, model.input_height);
    std::vector<cv::Mat> resized;
    for (const cv::Mat& f : faces) {
      if (f.empty() || f.type() != CV_8UC3) {
        throw Error("embed", "expects non-empty 8-bit BGR face images");
      }
      cv::Mat r = f;
      if (f.size() != size) cv::resize(f, r, size, 0, 0, cv::INTER_AREA);
      resized.push_back(r);
    }
    const Normalisation& n = model.norm;
    return cv::dnn::blobFromImages(resized, n.scale, size,
                                   cv::Scalar(n.mean[0], n.mean[1], n.mean[2]), n.swap_rb, false);
  }
};

Embedder::Embedder(const ModelInfo& model, const EmbedderOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->model = model;
  if (model.input_width <= 0 || model.input_height <= 0) {
    throw Error("embed", model.name + ": manifest gives no input size");
  }
  impl_->net = detail::load_onnx_net(model, "embed");
  impl_->precision = options.precision.value_or(model.precision);
  if (impl_->precision == Precision::kInt8) {
    if (options.calibration.empty()) {
      throw Error("embed", model.name + ": int8 needs calibration faces (EmbedderOptions)");
    }
    const std::vector<std::string> outputs = impl_->net.getUnconnectedOutLayersNames();
    impl_->net = detail::quantize_int8(impl_->net, impl_->blob(options.calibration), outputs,
                                       "embed", model.name);
    impl_->outputs = detail::int8_output_names(outputs);
  }
  // One run on a grey face fixes the output size and moves the allocation out of the first call.
  cv::Mat probe(model.input_height, model.input_width, CV_8UC3, cv::Scalar::all(128));
  impl_->dim = static_cast<int>(embed(probe).size());
}

Embedder::~Embedder() = default;
Embedder::Embedder(Embedder&&) noexcept = default;
Embedder& Embedder::operator=(Embedder&&) noexcept = default;

std::vector<float> Embedder::embed(const cv::Mat& face) {
  if (face.empty() || face.type() != CV_8UC3) {
    throw Error("embed", "expects a non-empty 8-bit BGR face image");
  }
  const ModelInfo& m = impl_->model;
  impl_->net.setInput(impl_->blob({face}));
  cv::Mat out;
  if (impl_->outputs.empty()) {
    out = impl_->net.forward();
  } else {
    out = impl_->net.forward(impl_->outputs.front());
  }
  std::vector<float> v(out.ptr<float>(), out.ptr<float>() + out.total());
  for (float x : v) {
    if (!std::isfinite(x)) throw Error("embed", m.path.string() + ": produced a non-finite value");
  }
  l2_normalise(v);
  return v;
}

const std::string& Embedder::model_id() const { return impl_->model.id; }
int Embedder::dim() const { return impl_->dim; }
Precision Embedder::precision() const { return impl_->precision; }

void set_inference_threads(int threads) { cv::setNumThreads(threads <= 0 ? -1 : threads); }
int inference_threads() { return cv::getNumThreads(); }

float cosine(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size() || a.empty()) return 0.f;
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  if (na <= 0 || nb <= 0) return 0.f;
  return static_cast<float>(dot / std::sqrt(na * nb));
}

void l2_normalise(std::vector<float>& v) {
  double n = 0;
  for (float x : v) n += double(x) * x;
  n = std::sqrt(n);
  if (n <= 0) return;
  for (float& x : v) x = static_cast<float>(x / n);
}

}  // namespace vlrface
