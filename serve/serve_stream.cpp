#include "serve_stream.hpp"

#include "serve_draw.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface::serve {

StreamEncoder::StreamEncoder(const live::SourceSpec& source, int quality)
    : card_width_(source.width > 0 ? source.width : 640),
      card_height_(source.height > 0 ? source.height : 480),
      quality_(quality) {}

std::shared_ptr<const std::string> StreamEncoder::next(const std::shared_ptr<live::LiveEngine>& eng,
                                                       StreamCursor& cursor, bool annotate,
                                                       int timeout_ms) {
  if (!eng) return nullptr;
  if (cursor.engine != eng.get()) cursor = {eng.get(), 0};
  const auto snap = eng->wait_snapshot(cursor.frame, timeout_ms);
  if (!snap || snap->frame.empty()) {
    // Nothing to show yet: say why (opening, retrying, ended) instead of a blank image.
    const std::string state = snap ? snap->source_state : "starting";
    const auto bytes = encode_jpeg(status_card(state, card_width_, card_height_), 80);
    return std::make_shared<const std::string>(bytes.begin(), bytes.end());
  }
  if (snap->frame_number <= cursor.frame) return nullptr;
  cursor.frame = snap->frame_number;
  std::lock_guard lock(mu_);
  Encoded& slot = encoded_[annotate ? 1 : 0];
  if (slot.snap.lock() != snap) {
    const auto bytes = encode_jpeg(annotate ? annotate_frame(*snap) : snap->frame, quality_);
    slot.jpeg = std::make_shared<const std::string>(bytes.begin(), bytes.end());
    slot.snap = snap;
  }
  return slot.jpeg;
}

}  // namespace vlrface::serve
