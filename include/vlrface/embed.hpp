// vlrface/embed.hpp — 512-d EdgeFace embeddings of aligned 112x112 faces (OpenCV DNN, ONNX).
//
// Usage:
//   vlrface::Embedder emb(store.get("edgeface_xxs"));
//   std::vector<float> e = emb.embed(aligned112);   // L2-normalised
//   float sim = vlrface::cosine(e, other);
// The model id (emb.model_id()) is what galleries record, so embeddings of different models are
// never compared.
// int8: Embedder(info, {.precision = Precision::kInt8, .calibration = aligned_faces}) quantizes
// with OpenCV on those faces, or throws Error("embed", ...) quoting OpenCV's reason when it
// cannot (OpenCV 4.6 cannot for EdgeFace: docs/BENCHMARKS.md, "Precision (fp32 vs int8)").
// Thread safety: an Embedder holds a network with per-call state; use one per thread.
// OpenCV's thread count is process-wide: set it once with set_inference_threads().
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vlrface/precision.hpp"

namespace vlrface {

struct ModelInfo;

struct EmbedderOptions {
  std::optional<Precision> precision;  // nullopt: the model's default (its manifest)
  // int8 only: aligned BGR faces whose activations set the int8 ranges; a few dozen, like the
  // faces the embedder will see (the gallery's, or a dataset's).
  std::vector<cv::Mat> calibration;
};

class Embedder {
 public:
  explicit Embedder(const ModelInfo& model, const EmbedderOptions& options = {});
  ~Embedder();
  Embedder(Embedder&&) noexcept;
  Embedder& operator=(Embedder&&) noexcept;

  // `face`: BGR 8-bit; resized to the model's input when it is not 112x112.
  std::vector<float> embed(const cv::Mat& face);
  const std::string& model_id() const;
  int dim() const;
  Precision precision() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sets the number of threads OpenCV's DNN and image code use in this process (0: all cores).
void set_inference_threads(int threads);
int inference_threads();

float cosine(std::span<const float> a, std::span<const float> b);
void l2_normalise(std::vector<float>& v);

}  // namespace vlrface
