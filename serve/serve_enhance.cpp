#include "serve_enhance.hpp"

#include "vlrface/align.hpp"
#include "vlrface/error.hpp"

namespace vlrface::serve {

cv::Mat ViewEnhancer::enhance(const cv::Mat& face) {
  std::lock_guard lock(mu_);
  if (!net_) {
    net_ = make_view_upscaler(store_);
    if (!net_) {
      throw Error("upscale", std::string("no picture network: '") + kViewUpscalerModel +
                                 "' is not in " + store_.dir().string());
    }
  }
  return net_->upscale(face, kAlignedSize);
}

}  // namespace vlrface::serve
