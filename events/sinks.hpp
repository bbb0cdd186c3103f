// events/sinks.hpp — the event sinks `vlrface serve` asked for, from its options.
//
// Usage:
//   vlrface::events::SinkOptions o;  o.mqtt = "mqtt://127.0.0.1:1883";  o.camera = "door";
//   auto sinks = vlrface::events::make_sinks(o, people);   // empty when neither is asked for
//   auto events = vlrface::events::make_live_events(o, people);  // nullptr: nothing asked for
// Validates everything before anything connects: Error("events", ...) naming the option.
// Thread safety: a plain function.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "event.hpp"
#include "live_events.hpp"

namespace vlrface::events {

struct SinkOptions {
  std::string mqtt;                // mqtt://HOST[:PORT] or mqtts://HOST[:PORT]; empty: none
  std::string mqtt_user;
  std::string mqtt_password_file;  // first line; owner-only
  std::string mqtt_ca_file;        // mqtts: the CA that signed the broker's certificate
  std::string camera;              // empty: default_camera_name()
  std::string webhook;             // http(s) URL; empty: none
  int off_delay_s = 30;            // Home Assistant presence sensors
  bool crops = false;              // a small JPEG of the face in each event (biometric data)
};

std::vector<std::shared_ptr<EventSink>> make_sinks(
    SinkOptions options, std::function<std::vector<std::string>()> people);
// The sinks behind the live bridge that decides events; nullptr when no sink is asked for.
std::shared_ptr<LiveEvents> make_live_events(
    SinkOptions options, std::function<std::vector<std::string>()> people);

}  // namespace vlrface::events
