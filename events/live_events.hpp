// events/live_events.hpp — turns the live engine's frames into one event per decided track and
// hands them to the event sinks.
//
// Usage (serve):
//   auto events = std::make_shared<vlrface::events::LiveEvents>(options, sinks);
//   engine.set_frame_listener([events](const auto& snap, const auto& matcher) {
//     events->on_frame(snap, matcher);
//   });
// A track is decided when the tracker's vote names it (an event with the name), or when it has
// been seen for `unknown_after_frames` frames (the vote window) without a name (an event with
// name null). A track emits again only when its decision changes to another name: an unknown
// track later recognised gets a second event, a name that flickers back to undecided does not.
// Faces too small to recognise never decide. While a named track stays in view, each sink's
// present(name) is called every presence_refresh_s (snapshot time), for presence sensors.
// Thread safety: on_frame() is called by one thread (the engine's processing thread) at a time;
// the sinks queue, so it never waits for the network.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "event.hpp"
#include "live_engine.hpp"

namespace vlrface::events {

struct LiveEventsOptions {
  std::string camera;
  bool crops = false;               // add a JPEG of the face to each event (biometric data!)
  int crop_max_side = 96;           // pixels; the crop is shrunk to fit
  int unknown_after_frames = 7;     // the tracker's vote window (TrackerOptions::vote_window)
  double presence_refresh_s = 10;
  double forget_after_s = 10;       // a track unseen this long is forgotten
};

class LiveEvents {
 public:
  LiveEvents(LiveEventsOptions options, std::vector<std::shared_ptr<EventSink>> sinks);
  void on_frame(const live::Snapshot& snap, const std::shared_ptr<const Matcher>& matcher);
  // Tells every sink the enrolled people may have changed (any thread).
  void people_changed();
  const std::vector<std::shared_ptr<EventSink>>& sinks() const { return sinks_; }

 private:
  struct Track {
    bool emitted = false;
    std::optional<std::string> emitted_name;
    int frames = 0;
    double last_seen = 0;
  };
  FaceEvent make_event(const live::Snapshot& snap, const live::LiveFace& f) const;

  LiveEventsOptions o_;
  std::vector<std::shared_ptr<EventSink>> sinks_;
  std::map<std::int64_t, Track> tracks_;
  std::map<std::string, double> present_at_;  // per person: the last present() call
  std::weak_ptr<const Matcher> matcher_;      // the templates of the last frame
  bool seen_matcher_ = false;
  double last_time_ = -1;
};

}  // namespace vlrface::events
