#include "event.hpp"

#include <cmath>
#include <ctime>

namespace vlrface::events {

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int frac = static_cast<int>(ms - static_cast<long long>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::string base64(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const std::uint32_t v = bytes[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const std::uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

namespace {
// Three decimals: the figures are for people and automations, not for re-computation, and a
// float printed in full ("0.41234567165374756") only makes payloads longer.
double round3(double v) {
  return std::isfinite(v) ? std::round(v * 1000.0) / 1000.0 : 0.0;
}
}  // namespace

nlohmann::json to_json(const SinkStats& s) {
  return {{"sink", s.sink},           {"connected", s.connected}, {"state", s.state},
          {"queued", s.queued},       {"delivered", s.delivered}, {"dropped", s.dropped}};
}

nlohmann::json to_json(const FaceEvent& e) {
  nlohmann::json j;
  j["time"] = iso8601_utc(e.time);
  j["camera"] = e.camera;
  j["name"] = e.name ? nlohmann::json(*e.name) : nlohmann::json(nullptr);
  j["similarity"] = round3(e.similarity);
  j["threshold"] = round3(e.threshold);
  j["native_px"] = round3(e.native_px);
  j["recovery"] = e.recovery;
  j["track_id"] = e.track_id;
  j["box"] = {{"x", round3(e.box.x)},
              {"y", round3(e.box.y)},
              {"w", round3(e.box.width)},
              {"h", round3(e.box.height)}};
  if (!e.crop_jpeg.empty()) j["crop_jpeg"] = base64(e.crop_jpeg);
  return j;
}

}  // namespace vlrface::events
