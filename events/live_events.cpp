#include "live_events.hpp"

#include <opencv2/imgproc.hpp>

#include "vlrface/image_io.hpp"

namespace vlrface::events {

LiveEvents::LiveEvents(LiveEventsOptions options, std::vector<std::shared_ptr<EventSink>> sinks)
    : o_(std::move(options)), sinks_(std::move(sinks)) {}

FaceEvent LiveEvents::make_event(const live::Snapshot& snap, const live::LiveFace& f) const {
  FaceEvent e;
  e.time = std::chrono::system_clock::now();
  e.camera = o_.camera;
  e.name = f.name;
  // Unknown: the track has no mean for a name, so the best candidate of this frame says how
  // close the nearest enrolled person came.
  e.similarity = f.name || f.top.empty() ? f.similarity : f.top.front().similarity;
  e.threshold = f.threshold;
  e.native_px = f.native_px;
  e.recovery = f.recovery;
  e.track_id = f.track_id;
  e.box = f.box;
  if (o_.crops && !snap.frame.empty()) {
    // The box with a margin, so the crop shows the head, clipped to the frame.
    const float mx = f.box.width * 0.2f, my = f.box.height * 0.2f;
    cv::Rect r(cv::Point(cvFloor(f.box.x - mx), cvFloor(f.box.y - my)),
               cv::Point(cvCeil(f.box.x + f.box.width + mx), cvCeil(f.box.y + f.box.height + my)));
    r &= cv::Rect(0, 0, snap.frame.cols, snap.frame.rows);
    if (r.area() > 0) {
      cv::Mat crop = snap.frame(r);
      const int side = std::max(r.width, r.height);
      if (side > o_.crop_max_side) {
        const double s = static_cast<double>(o_.crop_max_side) / side;
        cv::resize(crop, crop, cv::Size(), s, s, cv::INTER_AREA);
      }
      e.crop_jpeg = encode_jpeg(crop, 85);
    }
  }
  return e;
}

void LiveEvents::people_changed() {
  for (auto& s : sinks_) s->people_changed();
}

void LiveEvents::on_frame(const live::Snapshot& snap,
                          const std::shared_ptr<const Matcher>& matcher) {
  // A restarted engine counts time from zero again: its tracks are new ones.
  if (snap.timestamp < last_time_) {
    tracks_.clear();
    present_at_.clear();
  }
  last_time_ = snap.timestamp;
  if (matcher) {
    // Compared by owner: the weak pointer keeps the old matcher's control block alive, so a new
    // matcher can never share it and pass for the old one.
    const bool same =
        seen_matcher_ && !matcher_.owner_before(matcher) && !matcher.owner_before(matcher_);
    if (!same) {
      if (seen_matcher_) {
        for (auto& s : sinks_) s->people_changed();
      }
      matcher_ = matcher;
      seen_matcher_ = true;
    }
  }
  for (const live::LiveFace& f : snap.faces) {
    if (f.too_small || f.track_id <= 0) continue;
    Track& t = tracks_[f.track_id];
    ++t.frames;
    t.last_seen = snap.timestamp;
    bool emit = false;
    if (f.name) {
      emit = !t.emitted || t.emitted_name != f.name;
    } else {
      emit = !t.emitted && t.frames >= o_.unknown_after_frames;
    }
    if (emit) {
      const FaceEvent e = make_event(snap, f);
      for (auto& s : sinks_) s->face(e);
      t.emitted = true;
      t.emitted_name = f.name;
      if (f.name) present_at_[*f.name] = snap.timestamp;
    } else if (f.name && t.emitted_name == f.name) {
      double& at = present_at_[*f.name];
      if (snap.timestamp - at >= o_.presence_refresh_s) {
        at = snap.timestamp;
        for (auto& s : sinks_) s->present(*f.name);
      }
    }
  }
  for (auto it = tracks_.begin(); it != tracks_.end();) {
    it = snap.timestamp - it->second.last_seen > o_.forget_after_s ? tracks_.erase(it) : std::next(it);
  }
}

}  // namespace vlrface::events
