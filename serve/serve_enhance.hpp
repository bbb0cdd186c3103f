// The picture of a face for people to look at: the tiny input enlarged to 112 px by the picture
// network (make_view_upscaler(), model "dsr_view"), made only when someone asks for it (the
// selected face's "DSR" image), so a view nobody watches costs nothing.
//
// Usage:
//   ViewEnhancer view(store);
//   if (view.available()) cv::Mat pic = view.enhance(face.lowres);   // 112x112 BGR
// Thread safety: every method may be called from any handler thread (one network, one lock:
// each call takes a few milliseconds).
// The page asks for the selected face's picture at every snapshot poll (300 ms), whether or not
// a new frame came: the last picture is kept and given again while the input is the same
// buffer (a snapshot's images are never written after publication, and the kept reference stops
// the buffer being reused), so a stalled or slow camera costs no network runs.
#pragma once

#include <cstddef>
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
  // With a network already made (tests: any Upscaler); `store` only answers available().
  ViewEnhancer(const ModelStore& store, std::unique_ptr<Upscaler> net)
      : store_(store), net_(std::move(net)) {}

  // Whether the store has the picture network.
  bool available() const { return store_.has(kViewUpscalerModel); }

  // `face` (8-bit BGR, any size) enlarged to 112x112 by the picture network, loaded on first
  // use. Throws Error("upscale", ...) when the model is absent or cannot be loaded.
  cv::Mat enhance(const cv::Mat& face);

  // How many times the network has run (the same input twice in a row runs it once).
  std::size_t runs() const;

 private:
  const ModelStore& store_;
  mutable std::mutex mu_;
  std::unique_ptr<Upscaler> net_;
  cv::Mat last_in_, last_out_;  // last_in_ holds the input buffer, so its address is not reused
  std::size_t runs_ = 0;
};

}  // namespace vlrface::serve
