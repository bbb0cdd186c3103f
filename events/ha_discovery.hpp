// events/ha_discovery.hpp — MQTT topic names and Home Assistant MQTT discovery payloads.
//
// Topics (camera: --camera-name, [A-Za-z0-9_-]):
//   vlrface/<camera>/face               one JSON event per decided track (event.hpp), QoS 1
//   vlrface/<camera>/availability       "online" / "offline", retained; "offline" is the last will
//   vlrface/<camera>/person/<slug>      "ON" while the person is seen (refreshed), QoS 1
//   homeassistant/sensor/vlrface_<camera>/last_person/config          retained
//   homeassistant/binary_sensor/vlrface_<camera>/<slug>/config        retained, one per person
// A person's slug is their name in lower case with anything but [a-z0-9_] as '_', followed by
// '_' and 8 hex digits of a hash of the exact name when that changed anything, so "Bob Smith"
// and "bob_smith" never share a topic.
// Thread safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace vlrface::events {

// Error("events", ...) naming what is wrong: empty, longer than 64, or other than [A-Za-z0-9_-]
// (MQTT wildcards and '/' would change the topic's meaning).
void check_camera_name(const std::string& camera);
// This machine's host name made into a valid camera name ("camera" when it has none).
std::string default_camera_name();
std::string person_slug(const std::string& name);

struct Topics {
  std::string camera;
  std::string base = "vlrface";
  std::string discovery = "homeassistant";

  std::string face() const { return base + "/" + camera + "/face"; }
  std::string availability() const { return base + "/" + camera + "/availability"; }
  std::string person(const std::string& name) const {
    return base + "/" + camera + "/person/" + person_slug(name);
  }
  std::string last_person_config() const {
    return discovery + "/sensor/vlrface_" + camera + "/last_person/config";
  }
  std::string presence_config(const std::string& name) const {
    return discovery + "/binary_sensor/vlrface_" + camera + "/" + person_slug(name) + "/config";
  }
};

// The camera's "last person seen" sensor: its state is the name of the last event (or
// "unknown"), its attributes the event's figures (never the crop).
nlohmann::json last_person_config(const Topics& t);
// A person's presence binary_sensor: on with each "ON", off `off_delay_s` after the last one.
nlohmann::json presence_config(const Topics& t, const std::string& name, int off_delay_s);

}  // namespace vlrface::events
