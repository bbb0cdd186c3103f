// vlrface/upscale.hpp — bringing a low-resolution face back to the embedder's 112x112.
//
// Usage:
//   auto up = vlrface::make_upscaler("dsr", 16, store);   // or "bicubic"
//   cv::Mat face112 = up->upscale(tiny16);
// DSR is one small network per working resolution (models "dsr16", "dsr24", "dsr32"): it adds a
// learned residual to a bicubic upscale, so any input size works; it was trained on faces of
// its resolution (docs/MODELS.md). Those networks are trained for EdgeFace, not for the eye; the
// picture people look at comes from make_view_upscaler().
// Thread safety: BicubicUpscaler is stateless; network upscalers need one instance per thread.
#pragma once

#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace vlrface {

class ModelStore;

class Upscaler {
 public:
  virtual ~Upscaler() = default;
  // Any size in, `out_size` x `out_size` BGR 8-bit out.
  virtual cv::Mat upscale(const cv::Mat& face, int out_size = 112) = 0;
  virtual std::string name() const = 0;
};

class BicubicUpscaler final : public Upscaler {
 public:
  cv::Mat upscale(const cv::Mat& face, int out_size = 112) override;
  std::string name() const override { return "bicubic"; }
};

struct ModelInfo;

// The learned super-resolution network of one working resolution.
class DsrUpscaler final : public Upscaler {
 public:
  explicit DsrUpscaler(const ModelInfo& model);
  ~DsrUpscaler() override;
  cv::Mat upscale(const cv::Mat& face, int out_size = 112) override;
  std::string name() const override { return "dsr"; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The DSR model name for a working resolution ("dsr16").
std::string dsr_model_name(int resolution);

// Upscalers this build knows; "dsr" needs a trained model for `resolution` in the store.
std::vector<std::string> upscaler_kinds();
std::unique_ptr<Upscaler> make_upscaler(const std::string& kind, int resolution,
                                        const ModelStore& store);

// The picture network (model "dsr_view", one for faces of 12-40 px): trained for pixel fidelity
// rather than for EdgeFace, so it is what a person is shown (the live view's "DSR" picture);
// recognition keeps the recovery that validation chose per size. nullptr when the store has no
// such model (bicubic is then the best picture there is). make_upscaler() never picks it.
inline constexpr const char* kViewUpscalerModel = "dsr_view";
std::unique_ptr<Upscaler> make_view_upscaler(const ModelStore& store);

}  // namespace vlrface
