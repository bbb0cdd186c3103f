// vlrface/upscale.hpp — bringing a low-resolution face back to the embedder's 112x112.
//
// Usage:
//   auto up = vlrface::make_upscaler("bicubic", 16, store);   // or "dsr" once trained
//   cv::Mat face112 = up->upscale(tiny16);
// The learned DSR (one small network per working resolution) implements the same interface.
// Thread safety: BicubicUpscaler is stateless; network upscalers need one instance per thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

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

// Upscalers this build knows; "dsr" needs a trained model for `resolution` in the store.
std::vector<std::string> upscaler_kinds();
std::unique_ptr<Upscaler> make_upscaler(const std::string& kind, int resolution,
                                        const ModelStore& store);

}  // namespace vlrface
