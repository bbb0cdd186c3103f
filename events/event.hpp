// events/event.hpp — a decided face track as an event, and the interface every event sink
// (MQTT, webhook) implements.
//
// Usage:
//   vlrface::events::FaceEvent e;  ...fill...
//   std::string body = vlrface::events::to_json(e).dump();
//   sink.face(e);                  // queued, never blocks the caller
// An event is emitted once per decided track (live_events.hpp), not per frame, so a sink sees a
// few events a minute, not thirty a second.
// Thread safety: sinks accept calls from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

namespace vlrface::events {

struct FaceEvent {
  std::chrono::system_clock::time_point time;
  std::string camera;
  std::optional<std::string> name;  // nullopt: unknown
  float similarity = 0;             // named: the track's mean similarity; unknown: best candidate
  float threshold = 0;              // what the face was judged with
  float native_px = 0;              // the face's size in the frame
  std::string recovery;             // "base", "bicubic", ...
  std::int64_t track_id = 0;
  cv::Rect2f box;                   // in frame pixels
  std::vector<std::uint8_t> crop_jpeg;  // empty unless crops were asked for (biometric data)
};

// {"time": ISO 8601 UTC with milliseconds, "camera", "name" (null when unknown), "similarity",
//  "threshold", "native_px", "recovery", "track_id", "box": {"x","y","w","h"},
//  "crop_jpeg": base64 (only when present)}
nlohmann::json to_json(const FaceEvent& e);
std::string iso8601_utc(std::chrono::system_clock::time_point t);
std::string base64(const std::vector<std::uint8_t>& bytes);

// What a sink reports about itself (logged, and read by tests).
struct SinkStats {
  std::string sink;             // "mqtt" or "webhook"
  std::uint64_t delivered = 0;  // acknowledged by the broker / answered 2xx by the webhook
  std::uint64_t dropped = 0;    // pushed out of the full queue, or refused for good (4xx)
  std::size_t queued = 0;       // waiting, including those sent but not yet acknowledged
  bool connected = false;
  std::string state;            // "connected", "connecting", "retrying in 2.0 s: <why>", ...
};

// {"sink", "connected", "state", "queued", "delivered", "dropped"} (serve's /api/health).
nlohmann::json to_json(const SinkStats& s);

class EventSink {
 public:
  virtual ~EventSink() = default;
  // A decided track. Queued; when the queue is full the oldest waiting event is dropped.
  virtual void face(const FaceEvent& e) = 0;
  // A person with a decided track is still in view (called every few seconds while they are),
  // so that a presence sensor with an off-delay stays on. Default: nothing.
  virtual void present(const std::string& /*name*/) {}
  // The enrolled people may have changed (the gallery was reloaded). Default: nothing.
  virtual void people_changed() {}
  virtual SinkStats stats() const = 0;
};

}  // namespace vlrface::events
