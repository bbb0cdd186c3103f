#include "sinks.hpp"

#include "ha_discovery.hpp"
#include "mqtt_sink.hpp"
#include "vlrface/error.hpp"
#include "webhook_sink.hpp"

namespace vlrface::events {

std::vector<std::shared_ptr<EventSink>> make_sinks(
    SinkOptions o, std::function<std::vector<std::string>()> people) {
  if (o.mqtt.empty() && (!o.mqtt_user.empty() || !o.mqtt_password_file.empty() ||
                         !o.mqtt_ca_file.empty())) {
    throw Error("events", "--mqtt-user, --mqtt-password-file and --mqtt-ca-file need --mqtt URL");
  }
  if (!o.mqtt_password_file.empty() && o.mqtt_user.empty()) {
    throw Error("events", "--mqtt-password-file needs --mqtt-user");
  }
  if (o.off_delay_s < 1 || o.off_delay_s > 86400) {
    throw Error("events", "the presence off-delay must be 1..86400 s");
  }
  if (o.camera.empty()) o.camera = default_camera_name();
  check_camera_name(o.camera);
  std::vector<std::shared_ptr<EventSink>> sinks;
  if (!o.webhook.empty()) {
    WebhookOptions w;
    w.url = o.webhook;
    sinks.push_back(std::make_shared<WebhookSink>(w));
  }
  if (!o.mqtt.empty()) {
    MqttOptions m;
    parse_mqtt_url(o.mqtt, m);
    if (!o.mqtt_ca_file.empty() && !m.tls) {
      throw Error("events", "--mqtt-ca-file is for mqtts:// brokers (TLS), not " + o.mqtt);
    }
    m.ca_file = o.mqtt_ca_file;
    m.user = o.mqtt_user;
    if (!o.mqtt_password_file.empty()) m.password = read_password_file(o.mqtt_password_file);
    m.topics.camera = o.camera;
    m.off_delay_s = o.off_delay_s;
    sinks.push_back(std::make_shared<MqttSink>(m, std::move(people)));
  }
  return sinks;
}

std::shared_ptr<LiveEvents> make_live_events(
    SinkOptions o, std::function<std::vector<std::string>()> people) {
  if (o.camera.empty()) o.camera = default_camera_name();
  auto sinks = make_sinks(o, std::move(people));
  if (sinks.empty()) return nullptr;
  LiveEventsOptions lo;
  lo.camera = o.camera;
  lo.crops = o.crops;
  return std::make_shared<LiveEvents>(lo, std::move(sinks));
}

}  // namespace vlrface::events
