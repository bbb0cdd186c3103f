#include "ha_discovery.hpp"

#include <unistd.h>

#include <cstdio>

#include "vlrface/error.hpp"

namespace vlrface::events {
namespace {

bool camera_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// FNV-1a: stable across builds and machines (std::hash is neither), so a person keeps their
// entity in Home Assistant after an upgrade.
std::uint32_t fnv1a(const std::string& s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

nlohmann::json device(const Topics& t) {
  return {{"identifiers", {"vlrface_" + t.camera}},
          {"name", "vlrface " + t.camera},
          {"manufacturer", "vlrface"},
          {"model", "vlrface serve"}};
}

}  // namespace

void check_camera_name(const std::string& camera) {
  if (camera.empty()) throw Error("events", "--camera-name must not be empty");
  if (camera.size() > 64) {
    throw Error("events", "--camera-name '" + camera + "' is longer than 64 characters");
  }
  for (char c : camera) {
    if (!camera_char(c)) {
      throw Error("events", "--camera-name '" + camera + "' may only hold letters, digits, '_' "
                            "and '-' (it is part of MQTT topics), not '" + std::string(1, c) +
                            "'");
    }
  }
}

std::string default_camera_name() {
  char host[256] = {};
  std::string name;
  if (::gethostname(host, sizeof host - 1) == 0) {
    for (const char* p = host; *p && name.size() < 64; ++p) name += camera_char(*p) ? *p : '_';
  }
  return name.empty() ? "camera" : name;
}

std::string person_slug(const std::string& name) {
  std::string slug;
  for (unsigned char c : name) {
    if (c >= 'A' && c <= 'Z') {
      slug += static_cast<char>(c - 'A' + 'a');
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
      slug += static_cast<char>(c);
    } else {
      slug += '_';
    }
  }
  if (slug != name || slug.empty()) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08x", fnv1a(name));
    slug += (slug.empty() ? "" : "_") + std::string(hex);
  }
  return slug;
}

nlohmann::json last_person_config(const Topics& t) {
  return {
      {"name", "Last person seen"},
      {"unique_id", "vlrface_" + t.camera + "_last_person"},
      {"object_id", "vlrface_" + t.camera + "_last_person"},
      {"icon", "mdi:face-recognition"},
      {"state_topic", t.face()},
      {"value_template", "{{ value_json.name if value_json.name else 'unknown' }}"},
      {"json_attributes_topic", t.face()},
      // Only the figures: a crop (when enabled) must not end up in Home Assistant's database.
      {"json_attributes_template",
       "{{ {'similarity': value_json.similarity, 'native_px': value_json.native_px, "
       "'recovery': value_json.recovery, 'track_id': value_json.track_id, "
       "'time': value_json.time} | tojson }}"},
      {"availability_topic", t.availability()},
      {"payload_available", "online"},
      {"payload_not_available", "offline"},
      {"device", device(t)},
  };
}

nlohmann::json presence_config(const Topics& t, const std::string& name, int off_delay_s) {
  const std::string slug = person_slug(name);
  return {
      {"name", name + " present"},
      {"unique_id", "vlrface_" + t.camera + "_" + slug + "_present"},
      {"object_id", "vlrface_" + t.camera + "_" + slug + "_present"},
      {"device_class", "presence"},
      {"state_topic", t.person(name)},
      {"payload_on", "ON"},
      {"payload_off", "OFF"},
      {"off_delay", off_delay_s},
      {"availability_topic", t.availability()},
      {"payload_available", "online"},
      {"payload_not_available", "offline"},
      {"device", device(t)},
  };
}

}  // namespace vlrface::events
