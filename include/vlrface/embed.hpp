// vlrface/embed.hpp — 512-d EdgeFace embeddings of aligned 112x112 faces (OpenCV DNN, ONNX).
//
// Usage:
//   vlrface::Embedder emb(store.get("edgeface_xxs"));
//   std::vector<float> e = emb.embed(aligned112);   // L2-normalised
//   float sim = vlrface::cosine(e, other);
// The model id (emb.model_id()) is what galleries record, so embeddings of different models are
// never compared.
// Thread safety: an Embedder holds a network with per-call state; use one per thread.
// OpenCV's thread count is process-wide: set it once with set_inference_threads().
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace vlrface {

struct ModelInfo;

class Embedder {
 public:
  explicit Embedder(const ModelInfo& model);
  ~Embedder();
  Embedder(Embedder&&) noexcept;
  Embedder& operator=(Embedder&&) noexcept;

  // `face`: BGR 8-bit; resized to the model's input when it is not 112x112.
  std::vector<float> embed(const cv::Mat& face);
  const std::string& model_id() const;
  int dim() const;

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
