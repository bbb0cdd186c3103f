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
  const bool same = !last_in_.empty() && face.data == last_in_.data &&
                    face.size() == last_in_.size() && face.type() == last_in_.type() &&
                    face.step == last_in_.step;
  if (!same) {
    last_out_ = net_->upscale(face, kAlignedSize);
    last_in_ = face;
    ++runs_;
  }
  return last_out_.clone();  // the caller may keep or change it
}

std::size_t ViewEnhancer::runs() const {
  std::lock_guard lock(mu_);
  return runs_;
}

}  // namespace vlrface::serve
