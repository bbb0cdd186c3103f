// Pictures the server makes: the annotated live frame, a status card when there is no frame,
// and low-resolution faces enlarged so that their pixels show.
// Thread safety: pure functions.
#pragma once

#include <opencv2/core.hpp>
#include <string>

#include "live_engine.hpp"

namespace vlrface::serve {

// A copy of the snapshot's frame with each face's box, name and similarity drawn on it.
cv::Mat annotate_frame(const live::Snapshot& s);

// A dark `width` x `height` card with `text` (the source state while no frame exists).
cv::Mat status_card(const std::string& text, int width, int height);

// `small` enlarged by the integer factor that makes it at least `min_side` pixels, with
// nearest-neighbour sampling so each source pixel is a visible block.
cv::Mat nearest_enlarged(const cv::Mat& small, int min_side);

}  // namespace vlrface::serve
