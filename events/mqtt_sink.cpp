#include "mqtt_sink.hpp"

#include <mosquitto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "vlrface/error.hpp"

namespace vlrface::events {
namespace {

using Clock = std::chrono::steady_clock;

struct Message {
  std::uint64_t seq = 0;  // order of arrival: unacknowledged messages go back in this order
  std::string topic, payload;
};

// One connection attempt's client: destroyed after each disconnect, so that messages the library
// still holds for a dead connection are never sent twice beside our own queue.
struct ClientDeleter {
  void operator()(mosquitto* m) const { mosquitto_destroy(m); }
};
using Client = std::unique_ptr<mosquitto, ClientDeleter>;

std::string fmt_s(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

}  // namespace

struct MqttSink::Impl {
  MqttOptions o;
  std::function<std::vector<std::string>()> people_source;

  mutable std::mutex mu;
  std::condition_variable cv;  // stop and back-off waits
  std::deque<Message> waiting;
  std::map<int, Message> inflight;  // by message id, until PUBACK
  std::uint64_t next_seq = 0;
  bool stopping = false;
  bool people_dirty = true;
  SinkStats st;
  bool warned_full = false;

  // Worker-thread only:
  std::set<std::string> published_people;  // presence configs sent (retained) on the broker
  bool connack = false;
  int connack_rc = -1;
  bool lost = false;
  int offline_mid = -1;
  bool offline_acked = false;

  std::thread worker;

  Impl(MqttOptions opts, std::function<std::vector<std::string>()> people)
      : o(std::move(opts)), people_source(std::move(people)) {
    check_camera_name(o.topics.camera);
    if (o.client_id.empty()) o.client_id = "vlrface-" + o.topics.camera;
    if (o.queue_capacity < 1) throw Error("events", "the MQTT queue needs room for one event");
    o.max_inflight = std::max(1, std::min<int>(o.max_inflight, static_cast<int>(o.queue_capacity)));
    if (!o.ca_file.empty() && !std::filesystem::is_regular_file(o.ca_file)) {
      throw Error("events", "--mqtt-ca-file " + o.ca_file + ": not a readable file");
    }
    // Not thread safe, and idempotent: called here, on the constructing thread. Never cleaned up:
    // mosquitto_lib_cleanup() would pull the library from under any other client in the process.
    mosquitto_lib_init();
    st.state = "connecting";
    worker = std::thread([this] { run(); });
  }

  ~Impl() {
    {
      std::lock_guard lk(mu);
      stopping = true;
    }
    cv.notify_all();
    worker.join();
  }

  void set_state(const std::string& s, bool connected) {
    std::lock_guard lk(mu);
    if (st.state != s) {
      if (connected) {
        spdlog::info("mqtt: connected to {}:{}", o.host, o.port);
      } else if (s == "stopped") {
        spdlog::info("mqtt: stopped");
      } else if (st.connected || s.rfind("retrying", 0) == 0) {
        spdlog::warn("mqtt: {}", s);
      }
    }
    st.state = s;
    st.connected = connected;
  }

  void push(std::string topic, std::string payload) {
    {
      std::lock_guard lk(mu);
      if (waiting.size() + inflight.size() >= o.queue_capacity) {
        if (waiting.empty()) {  // all in flight: nothing older to give way
          ++st.dropped;
          return;
        }
        waiting.pop_front();
        ++st.dropped;
        if (!warned_full) {
          spdlog::warn("mqtt: queue full ({} events): dropping the oldest", o.queue_capacity);
          warned_full = true;
        }
      }
      waiting.push_back({next_seq++, std::move(topic), std::move(payload)});
    }
  }

  // --- libmosquitto callbacks (worker thread, inside mosquitto_loop) -----------------------

  static void on_connect(mosquitto*, void* self, int rc) {
    auto* d = static_cast<Impl*>(self);
    d->connack = true;
    d->connack_rc = rc;
  }
  static void on_disconnect(mosquitto*, void* self, int) { static_cast<Impl*>(self)->lost = true; }
  static void on_publish(mosquitto*, void* self, int mid) {
    auto* d = static_cast<Impl*>(self);
    if (mid == d->offline_mid) d->offline_acked = true;
    std::lock_guard lk(d->mu);
    if (d->inflight.erase(mid)) {
      ++d->st.delivered;
      d->warned_full = false;
    }
  }
  // Retained presence configs on the broker (ours from an earlier run): those of people no
  // longer enrolled are cleared, so Home Assistant removes their sensors.
  static void on_message(mosquitto* m, void* self, const mosquitto_message* msg) {
    auto* d = static_cast<Impl*>(self);
    if (!msg->retain || msg->payloadlen == 0) return;
    const std::string topic = msg->topic;
    const std::string prefix = d->o.topics.discovery + "/binary_sensor/vlrface_" +
                               d->o.topics.camera + "/";
    if (topic.rfind(prefix, 0) != 0) return;
    for (const auto& name : d->published_people) {
      if (d->o.topics.presence_config(name) == topic) return;
    }
    mosquitto_publish(m, nullptr, topic.c_str(), 0, nullptr, 1, true);
  }

  // --- worker ----------------------------------------------------------------------------

  bool stop_requested() {
    std::lock_guard lk(mu);
    return stopping;
  }

  // Waits `seconds` or until stop; true when stopping.
  bool wait_backoff(double seconds) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::duration<double>(seconds), [&] { return stopping; });
  }

  Client make_client(std::string& err) {
    Client c(mosquitto_new(o.client_id.c_str(), true, this));
    if (!c) {
      err = "cannot create an MQTT client";
      return nullptr;
    }
    mosquitto* m = c.get();
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(m, static_cast<unsigned>(o.max_inflight) + 4);
    const std::string avail = o.topics.availability();
    int rc = mosquitto_will_set(m, avail.c_str(), 7, "offline", 1, true);
    if (rc == MOSQ_ERR_SUCCESS && !o.user.empty()) {
      rc = mosquitto_username_pw_set(m, o.user.c_str(),
                                     o.password.empty() ? nullptr : o.password.c_str());
    }
    if (rc == MOSQ_ERR_SUCCESS && o.tls) {
      rc = mosquitto_tls_set(m, o.ca_file.empty() ? nullptr : o.ca_file.c_str(),
                             o.ca_file.empty() ? "/etc/ssl/certs" : nullptr, nullptr, nullptr,
                             nullptr);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
      err = std::string("client set-up: ") + mosquitto_strerror(rc);
      return nullptr;
    }
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_disconnect_callback_set(m, on_disconnect);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_message_callback_set(m, on_message);
    return c;
  }

  static std::string describe(int rc) {
    return rc == MOSQ_ERR_ERRNO ? std::string(std::strerror(errno)) : mosquitto_strerror(rc);
  }

  bool publish_now(mosquitto* m, const std::string& topic, const std::string& payload,
                   bool retain, int* mid = nullptr) {
    return mosquitto_publish(m, mid, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), 1, retain) == MOSQ_ERR_SUCCESS;
  }

  // Discovery configs for the people enrolled now; cleared for those who left.
  bool sync_people(mosquitto* m, bool all) {
    {
      std::lock_guard lk(mu);
      if (!people_dirty && !all) return true;
      people_dirty = false;
    }
    std::vector<std::string> now;
    try {
      now = people_source ? people_source() : std::vector<std::string>{};
    } catch (const std::exception& e) {
      spdlog::warn("mqtt: cannot list the enrolled people for discovery: {}", e.what());
      return true;
    }
    const std::set<std::string> current(now.begin(), now.end());
    for (const auto& name : published_people) {
      if (!current.count(name) && !publish_now(m, o.topics.presence_config(name), "", true)) {
        return false;
      }
    }
    for (const auto& name : current) {
      if ((all || !published_people.count(name)) &&
          !publish_now(m, o.topics.presence_config(name),
                       presence_config(o.topics, name, o.off_delay_s).dump(), true)) {
        return false;
      }
    }
    published_people = current;
    return true;
  }

  bool on_connected(mosquitto* m) {
    if (!publish_now(m, o.topics.availability(), "online", true)) return false;
    if (!publish_now(m, o.topics.last_person_config(), last_person_config(o.topics).dump(), true)) {
      return false;
    }
    if (!sync_people(m, true)) return false;
    const std::string pattern =
        o.topics.discovery + "/binary_sensor/vlrface_" + o.topics.camera + "/+/config";
    return mosquitto_subscribe(m, nullptr, pattern.c_str(), 1) == MOSQ_ERR_SUCCESS;
  }

  // Sends waiting messages while fewer than max_inflight are unacknowledged.
  bool pump(mosquitto* m) {
    for (;;) {
      Message msg;
      {
        std::lock_guard lk(mu);
        if (waiting.empty() || static_cast<int>(inflight.size()) >= o.max_inflight) return true;
        msg = std::move(waiting.front());
        waiting.pop_front();
      }
      int mid = 0;
      const bool ok = publish_now(m, msg.topic, msg.payload, false, &mid);
      std::lock_guard lk(mu);
      if (!ok) {
        waiting.push_front(std::move(msg));
        return false;
      }
      // The acknowledgement is handled in mosquitto_loop on this thread: not before this.
      inflight.emplace(mid, std::move(msg));
    }
  }

  // Unacknowledged messages go back to the front of the queue, in their original order.
  void requeue_inflight() {
    std::lock_guard lk(mu);
    std::vector<Message> back;
    for (auto& [mid, msg] : inflight) back.push_back(std::move(msg));
    inflight.clear();
    std::sort(back.begin(), back.end(), [](const Message& a, const Message& b) {
      return a.seq < b.seq;
    });
    for (auto it = back.rbegin(); it != back.rend(); ++it) waiting.push_front(std::move(*it));
  }

  bool drained() {
    std::lock_guard lk(mu);
    return waiting.empty() && inflight.empty();
  }

  // Sends what it can, then "offline", then disconnects cleanly (no last will then).
  void close_gracefully(mosquitto* m) {
    const auto flush_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(o.flush_timeout_s));
    while (!lost && !drained() && Clock::now() < flush_end) {
      if (!pump(m) || mosquitto_loop(m, 50, 1) != MOSQ_ERR_SUCCESS) break;
    }
    if (lost) return;
    offline_acked = false;
    if (publish_now(m, o.topics.availability(), "offline", true, &offline_mid)) {
      const auto end = Clock::now() + std::chrono::seconds(1);
      while (!lost && !offline_acked && Clock::now() < end) {
        if (mosquitto_loop(m, 50, 1) != MOSQ_ERR_SUCCESS) break;
      }
    }
    mosquitto_disconnect(m);
    for (int i = 0; i < 5 && mosquitto_loop(m, 20, 1) == MOSQ_ERR_SUCCESS; ++i) {
    }
  }

  // One connection, from connect to loss (or stop). Returns the reason it ended ("" on stop).
  std::string session(bool& was_connected) {
    std::string err;
    Client c = make_client(err);
    if (!c) return err;
    mosquitto* m = c.get();
    connack = false;
    connack_rc = -1;
    lost = false;
    int rc = mosquitto_connect_async(m, o.host.c_str(), o.port, o.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) return "cannot connect to " + o.host + ":" + std::to_string(o.port) + ": " + describe(rc);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(o.connect_timeout_s));
    bool up = false;
    for (;;) {
      if (stop_requested()) {
        if (up) close_gracefully(m);
        requeue_inflight();
        return "";
      }
      rc = mosquitto_loop(m, 50, 1);
      if (rc != MOSQ_ERR_SUCCESS || lost) {
        requeue_inflight();
        return "connection to " + o.host + ":" + std::to_string(o.port) + " lost: " +
               (rc != MOSQ_ERR_SUCCESS ? describe(rc) : "disconnected");
      }
      if (!up && connack) {
        if (connack_rc != 0) {
          return "the broker refused the connection: " +
                 std::string(mosquitto_connack_string(connack_rc));
        }
        up = true;
        was_connected = true;
        set_state("connected", true);
        if (!on_connected(m)) {
          requeue_inflight();
          return "publishing the discovery configs failed";
        }
      }
      if (!up) {
        if (Clock::now() > deadline) {
          return "no answer from " + o.host + ":" + std::to_string(o.port) + " within " +
                 fmt_s(o.connect_timeout_s) + " s";
        }
        continue;
      }
      if (!sync_people(m, false) || !pump(m)) {
        requeue_inflight();
        return "publishing failed";
      }
    }
  }

  void run() {
    double backoff = o.min_backoff_s;
    while (!stop_requested()) {
      bool was_connected = false;
      const std::string why = session(was_connected);
      if (why.empty()) break;  // stopped
      if (was_connected) backoff = o.min_backoff_s;
      set_state("retrying in " + fmt_s(backoff) + " s: " + why, false);
      if (wait_backoff(backoff)) break;
      backoff = std::min(backoff * 2, o.max_backoff_s);
    }
    set_state("stopped", false);
  }
};

MqttSink::MqttSink(MqttOptions options, std::function<std::vector<std::string>()> people)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(people))) {}

MqttSink::~MqttSink() = default;

void MqttSink::face(const FaceEvent& e) {
  impl_->push(impl_->o.topics.face(), to_json(e).dump());
  if (e.name) impl_->push(impl_->o.topics.person(*e.name), "ON");
}

void MqttSink::present(const std::string& name) {
  impl_->push(impl_->o.topics.person(name), "ON");
}

void MqttSink::people_changed() {
  std::lock_guard lk(impl_->mu);
  impl_->people_dirty = true;
}

SinkStats MqttSink::stats() const {
  std::lock_guard lk(impl_->mu);
  SinkStats s = impl_->st;
  s.sink = "mqtt";
  s.queued = impl_->waiting.size() + impl_->inflight.size();
  return s;
}

}  // namespace vlrface::events
