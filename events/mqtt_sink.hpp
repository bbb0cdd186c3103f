// events/mqtt_sink.hpp — face events to an MQTT broker (Debian's libmosquitto), with Home
// Assistant discovery, a last will, reconnection with back-off and a bounded queue.
//
// Usage:
//   vlrface::events::MqttOptions o;
//   vlrface::events::parse_mqtt_url("mqtt://127.0.0.1:1883", o);
//   o.topics.camera = "front-door";
//   vlrface::events::MqttSink sink(o, [] { return std::vector<std::string>{"alice"}; });
//   sink.face(event);   // queued; published with QoS 1 once connected
// Delivery: an event leaves the queue only when the broker acknowledged it (PUBACK). While the
// broker is away, events wait in the queue (queue_capacity, 1000 messages by default, counting
// those sent but not yet acknowledged; a presence "ON" is a message too, and follows each named
// event); when it is full the OLDEST waiting message is dropped and counted
// (stats().dropped), because the newest say who is there now. Events sent but unacknowledged
// when the connection broke are sent again (QoS 1: at least once, a duplicate is possible).
// Reconnection waits min_backoff_s, doubling up to max_backoff_s, reset by a successful connect.
// On (re)connect: "online" (retained) on the availability topic, whose last will is "offline"
// (retained), and the discovery configs (retained) of the camera and of every enrolled person;
// configs of people no longer enrolled are cleared. Destruction sends what it can within
// flush_timeout_s, then "offline", then disconnects.
// Thread safety: every public method may be called from any thread; one worker thread owns the
// connection.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "event.hpp"
#include "ha_discovery.hpp"

namespace vlrface::events {

struct MqttOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  bool tls = false;     // mqtts://: the broker's certificate and host name are verified
  std::string ca_file;  // PEM; empty with tls: the system's CAs (/etc/ssl/certs)
  std::string user, password;
  std::string client_id;  // empty: "vlrface-<camera>"
  Topics topics;          // topics.camera must be set
  std::size_t queue_capacity = 1000;
  int max_inflight = 16;
  double min_backoff_s = 0.5, max_backoff_s = 30;
  double connect_timeout_s = 10;
  int keepalive_s = 30;  // a broker notices a silent (not killed) client after 1.5x this
  int off_delay_s = 30;  // presence sensors turn off this long after the last "ON"
  double flush_timeout_s = 2;
};

// mqtt://HOST[:PORT] (1883) or mqtts://HOST[:PORT] (8883); IPv6 as [::1]. A user or password in
// the URL is refused (it would show in `ps`): use --mqtt-user and --mqtt-password-file.
void parse_mqtt_url(const std::string& url, MqttOptions& o);
// The first line of `file`; Error("events", ...) when it cannot be read, is empty, or is
// readable or writable by anyone but its owner (chmod 600).
std::string read_password_file(const std::filesystem::path& file);

class MqttSink : public EventSink {
 public:
  // `people` lists the enrolled names; it is called on the worker thread at each connect and
  // after people_changed(). Throws Error("events", ...) for invalid options; connecting is
  // done in the background (a broker that is away is not an error: events queue).
  MqttSink(MqttOptions options, std::function<std::vector<std::string>()> people);
  ~MqttSink() override;
  MqttSink(const MqttSink&) = delete;
  MqttSink& operator=(const MqttSink&) = delete;

  void face(const FaceEvent& e) override;
  void present(const std::string& name) override;
  void people_changed() override;
  SinkStats stats() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlrface::events
