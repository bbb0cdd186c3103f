// The picture of a face for people to look at: the tiny input enlarged to 112 px by the picture
// network (make_view_upscaler(), model "dsr_view"), made only when someone asks for it (the
// selected face's "DSR" image), so a view nobody watches costs nothing.
//
// Usage:
//   ViewEnhancer view(store);
//   if (view.available()) cv::Mat pic = view.enhance(face.lowres);   // 112x112 BGR
// Thread safety: every method may be called from any handler thread (one network, one lock:
// each call takes a few milliseconds).
#pragma once

#include <memory>
#include <mutex>
#include <opencv2/core.hpp>

#include "vlrface/models.hpp"
#include "vlrface/upscale.hpp"

namespace vlrface::serve {

class ViewEnhancer {
 public:
  // Loads nothing yet. `store` must outlive this object.
  explicit ViewEnhancer(const ModelStore& store) : store_(store) {}

  // Whether the store has the picture network.
  bool available() const { return store_.has(kViewUpscalerModel); }

  // `face` (8-bit BGR, any size) enlarged to 112x112 by the picture network, loaded on first
  // use. Throws Error("upscale", ...) when the model is absent or cannot be loaded.
  cv::Mat enhance(const cv::Mat& face);

 private:
  const ModelStore& store_;
  std::mutex mu_;
  std::unique_ptr<Upscaler> net_;
};

}  // namespace vlrface::serve
