#include "vlrface/embed.hpp"

#include <cmath>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "vlrface/error.hpp"
#include "vlrface/models.hpp"

namespace vlrface {

struct Embedder::Impl {
  cv::dnn::Net net;
  ModelInfo model;
  int dim = 0;
};

Embedder::Embedder(const ModelInfo& model) : impl_(std::make_unique<Impl>()) {
  impl_->model = model;
  if (model.input_width <= 0 || model.input_height <= 0) {
    throw Error("embed", model.name + ": manifest gives no input size");
  }
  try {
    impl_->net = cv::dnn::readNetFromONNX(model.path.string());
  } catch (const cv::Exception& e) {
    throw Error("embed", model.path.string() + ": cannot be loaded as ONNX (" + e.err + ")");
  }
  impl_->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  impl_->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
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
  const cv::Size size(m.input_width, m.input_height);
  cv::Mat input = face;
  if (face.size() != size) cv::resize(face, input, size, 0, 0, cv::INTER_AREA);
  const cv::Scalar mean(m.norm.mean[0], m.norm.mean[1], m.norm.mean[2]);
  cv::Mat blob = cv::dnn::blobFromImage(input, m.norm.scale, size, mean, m.norm.swap_rb, false);
  impl_->net.setInput(blob);
  cv::Mat out = impl_->net.forward();
  std::vector<float> v(out.ptr<float>(), out.ptr<float>() + out.total());
  for (float x : v) {
    if (!std::isfinite(x)) throw Error("embed", m.path.string() + ": produced a non-finite value");
  }
  l2_normalise(v);
  return v;
}

const std::string& Embedder::model_id() const { return impl_->model.id; }
int Embedder::dim() const { return impl_->dim; }

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
