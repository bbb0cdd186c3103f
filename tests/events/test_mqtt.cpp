// MqttSink against a real broker (Debian's mosquitto, started here on a free port): event and
// discovery payloads, retained configs, the last will when the process is killed, and a broker
// killed and restarted while events keep coming: nothing lost within the queue's bound, the
// oldest dropped beyond it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <set>

#include "mqtt_sink.hpp"
#include "mqtt_test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vlrface::events::FaceEvent;
using vlrface::events::MqttOptions;
using vlrface::events::MqttSink;
using vlrtest::Received;

namespace {

class Mqtt : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("vlrface-mqtt-" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  MqttOptions options(int port) const {
    MqttOptions o;
    o.port = port;
    o.topics.camera = "door";
    o.min_backoff_s = 0.1;
    o.max_backoff_s = 0.5;
    return o;
  }

  fs::path dir_;
};

FaceEvent event(std::int64_t track, std::optional<std::string> name = std::nullopt) {
  FaceEvent e;
  e.time = std::chrono::system_clock::now();
  e.camera = "door";
  e.name = std::move(name);
  e.similarity = 0.5f;
  e.threshold = 0.25f;
  e.native_px = 18.5f;
  e.recovery = "bicubic";
  e.track_id = track;
  e.box = {10, 20, 30, 40};
  return e;
}

// The track ids of the face events received.
std::multiset<std::int64_t> track_ids(const std::vector<Received>& all) {
  std::multiset<std::int64_t> ids;
  for (const auto& m : vlrtest::on_topic(all, "vlrface/door/face")) {
    ids.insert(json::parse(m.payload).at("track_id").get<std::int64_t>());
  }
  return ids;
}

bool wait_until(const std::function<bool()>& ok, int seconds) {
  for (int i = 0; i < seconds * 50; ++i) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ok();
}

TEST_F(Mqtt, EventsDiscoveryAndRetainedConfigs) {
  VLR_REQUIRE_MOSQUITTO();
  vlrtest::Broker broker(dir_ / "broker");
  ASSERT_TRUE(broker.start()) << broker.log_text();
  vlrtest::Subscriber sub(broker.port(), {"vlrface/#", "homeassistant/#"});
  ASSERT_TRUE(sub.ok() && sub.wait_subscribed());

  std::mutex people_mu;
  std::vector<std::string> people = {"alice", "Bob Smith"};
  auto sink = std::make_unique<MqttSink>(options(broker.port()), [&] {
    std::lock_guard lk(people_mu);
    return people;
  });
  auto got = sub.wait([](const auto& all) {
    return !vlrtest::on_topic(all, "vlrface/door/availability").empty();
  });
  auto avail = vlrtest::on_topic(got, "vlrface/door/availability");
  ASSERT_FALSE(avail.empty());
  EXPECT_EQ(avail.back().payload, "online");

  sink->face(event(7, "alice"));
  sink->face(event(8));
  got = sub.wait([](const auto& all) {
    return vlrtest::on_topic(all, "vlrface/door/face").size() >= 2 &&
           !vlrtest::on_topic(all, "vlrface/door/person/alice").empty();
  });
  const auto faces = vlrtest::on_topic(got, "vlrface/door/face");
  ASSERT_EQ(faces.size(), 2u);
  const json a = json::parse(faces[0].payload), u = json::parse(faces[1].payload);
  EXPECT_EQ(a["name"], "alice");
  EXPECT_EQ(a["camera"], "door");
  EXPECT_EQ(a["track_id"], 7);
  EXPECT_NEAR(a["similarity"].get<double>(), 0.5, 1e-6);
  EXPECT_NEAR(a["native_px"].get<double>(), 18.5, 1e-6);
  EXPECT_EQ(a["recovery"], "bicubic");
  EXPECT_EQ(a["box"], json({{"x", 10}, {"y", 20}, {"w", 30}, {"h", 40}}));
  EXPECT_EQ(a["time"].get<std::string>().size(), 24u) << a["time"];  // 2026-11-28T13:46:25.123Z
  EXPECT_FALSE(a.contains("crop_jpeg")) << "crops are off unless asked for";
  EXPECT_TRUE(u["name"].is_null());
  EXPECT_EQ(vlrtest::on_topic(got, "vlrface/door/person/alice").back().payload, "ON");
  EXPECT_FALSE(faces[0].retain) << "events are not retained";

  // Discovery: the camera's sensor and one presence sensor per person.
  const auto sensor = vlrtest::on_topic(got, "homeassistant/sensor/vlrface_door/last_person/config");
  ASSERT_FALSE(sensor.empty());
  const json s = json::parse(sensor.back().payload);
  EXPECT_EQ(s["state_topic"], "vlrface/door/face");
  EXPECT_EQ(s["availability_topic"], "vlrface/door/availability");
  EXPECT_EQ(s["unique_id"], "vlrface_door_last_person");
  EXPECT_NE(s["value_template"].get<std::string>().find("value_json.name"), std::string::npos);
  const std::string bob_slug = vlrface::events::person_slug("Bob Smith");
  for (const std::string& slug : {std::string("alice"), bob_slug}) {
    const auto cfg =
        vlrtest::on_topic(got, "homeassistant/binary_sensor/vlrface_door/" + slug + "/config");
    ASSERT_FALSE(cfg.empty()) << slug;
    const json p = json::parse(cfg.back().payload);
    EXPECT_EQ(p["device_class"], "presence");
    EXPECT_EQ(p["state_topic"], "vlrface/door/person/" + slug);
    EXPECT_EQ(p["off_delay"], 30);
    EXPECT_EQ(p["payload_on"], "ON");
    EXPECT_EQ(p["availability_topic"], "vlrface/door/availability");
  }

  // A subscriber arriving later gets the configs and availability as retained messages.
  {
    vlrtest::Subscriber late(broker.port(), {"homeassistant/#", "vlrface/door/availability"});
    ASSERT_TRUE(late.ok());
    const auto r = late.wait([](const auto& all) { return all.size() >= 4; });
    ASSERT_EQ(r.size(), 4u);
    for (const auto& m : r) EXPECT_TRUE(m.retain) << m.topic;
  }

  // Bob leaves the gallery, carol joins: his config is cleared (empty retained), hers appears.
  {
    std::lock_guard lk(people_mu);
    people = {"alice", "carol"};
  }
  sink->people_changed();
  got = sub.wait([&](const auto& all) {
    const auto bob =
        vlrtest::on_topic(all, "homeassistant/binary_sensor/vlrface_door/" + bob_slug + "/config");
    return !bob.empty() && bob.back().payload.empty() &&
           !vlrtest::on_topic(all, "homeassistant/binary_sensor/vlrface_door/carol/config").empty();
  });
  const auto bob =
      vlrtest::on_topic(got, "homeassistant/binary_sensor/vlrface_door/" + bob_slug + "/config");
  ASSERT_FALSE(bob.empty());
  EXPECT_TRUE(bob.back().payload.empty()) << "a removed person's sensor is deleted";
  EXPECT_FALSE(
      vlrtest::on_topic(got, "homeassistant/binary_sensor/vlrface_door/carol/config").empty());
  EXPECT_EQ(sink->stats().delivered, 3u) << "two events and alice's presence";
  EXPECT_EQ(sink->stats().dropped, 0u);

  // A clean stop says "offline" itself (a last will is only for unclean ends).
  sink.reset();
  got = sub.wait([](const auto& all) {
    const auto a = vlrtest::on_topic(all, "vlrface/door/availability");
    return !a.empty() && a.back().payload == "offline";
  });
  ASSERT_FALSE(vlrtest::on_topic(got, "vlrface/door/availability").empty());
  EXPECT_EQ(vlrtest::on_topic(got, "vlrface/door/availability").back().payload, "offline");

  // Carol was removed while vlrface was not running: the next start clears her retained config.
  const std::string carol = "homeassistant/binary_sensor/vlrface_door/carol/config";
  ASSERT_FALSE(vlrtest::on_topic(got, carol).back().payload.empty());
  MqttSink again(options(broker.port()), [] { return std::vector<std::string>{"alice"}; });
  got = sub.wait([&](const auto& all) {
    const auto c = vlrtest::on_topic(all, carol);
    return !c.empty() && c.back().payload.empty();
  });
  EXPECT_TRUE(vlrtest::on_topic(got, carol).back().payload.empty())
      << "a stale config on the broker is cleared at connect";
  const auto alice_cfg =
      vlrtest::on_topic(got, "homeassistant/binary_sensor/vlrface_door/alice/config");
  EXPECT_FALSE(alice_cfg.back().payload.empty()) << "an enrolled person's config stays";
}

// A process killed outright cannot say goodbye: the broker publishes its last will.
TEST_F(Mqtt, LastWillSaysOfflineWhenTheProcessIsKilled) {
  VLR_REQUIRE_MOSQUITTO();
  vlrtest::Broker broker(dir_ / "broker");
  ASSERT_TRUE(broker.start()) << broker.log_text();
  vlrtest::Subscriber sub(broker.port(), {"vlrface/door/availability"});
  ASSERT_TRUE(sub.ok() && sub.wait_subscribed());
  const pid_t child = ::fork();
  if (child == 0) {
    ::execl(VLRFACE_MQTT_PROBE, VLRFACE_MQTT_PROBE, std::to_string(broker.port()).c_str(), "door",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto got = sub.wait([](const auto& all) {
    return !all.empty() && all.back().payload == "online";
  });
  ASSERT_FALSE(got.empty()) << "the probe never came online\n" << broker.log_text();
  ASSERT_EQ(got.back().payload, "online");
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  got = sub.wait([](const auto& all) { return all.back().payload == "offline"; });
  EXPECT_EQ(got.back().payload, "offline");
  // Retained: Home Assistant, starting later, sees the camera offline too.
  vlrtest::Subscriber late(broker.port(), {"vlrface/door/availability"});
  const auto r = late.wait([](const auto& all) { return !all.empty(); });
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].payload, "offline");
  EXPECT_TRUE(r[0].retain);
}

// mqtts://: the broker's certificate is checked against --mqtt-ca-file and its host name; a
// broker signed by another CA is refused. Certificates made here with the openssl program.
TEST_F(Mqtt, TlsVerifiesTheBroker) {
  VLR_REQUIRE_MOSQUITTO();
  if (std::system("openssl version >/dev/null 2>&1") != 0) {
    if (vlrtest::broker_required()) FAIL() << "the openssl program is missing (Debian: openssl)";
    GTEST_SKIP() << "the openssl program is missing (Debian: openssl)";
  }
  const fs::path pki = dir_ / "pki";
  fs::create_directories(pki);
  const std::string p = pki.string() + "/";
  std::ofstream(pki / "san.ext") << "subjectAltName=DNS:localhost\n";
  const std::string make =
      "cd " + p + " && for ca in ca other; do openssl req -x509 -newkey rsa:2048 -nodes "
      "-keyout $ca.key -out $ca.pem -days 2 -subj /CN=vlrface-test-$ca; done && "
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost "
      "&& openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
      "-out server.pem -days 2 -extfile san.ext";
  ASSERT_EQ(std::system((make + " >/dev/null 2>&1").c_str()), 0) << make;
  const int tls_port = vlrtest::free_port();
  vlrtest::Broker broker(dir_ / "broker", "listener " + std::to_string(tls_port) +
                                              " 127.0.0.1\ncafile " + p + "ca.pem\ncertfile " +
                                              p + "server.pem\nkeyfile " + p + "server.key\n");
  ASSERT_TRUE(broker.start()) << broker.log_text();
  ASSERT_TRUE(wait_until([&] { return vlrtest::port_open(tls_port); }, 5));
  vlrtest::Subscriber sub(broker.port(), {"vlrface/door/face"});  // the plain listener
  ASSERT_TRUE(sub.ok() && sub.wait_subscribed());

  MqttOptions o = options(0);
  vlrface::events::parse_mqtt_url("mqtts://localhost:" + std::to_string(tls_port), o);
  o.ca_file = p + "ca.pem";
  MqttSink sink(o, [] { return std::vector<std::string>{}; });
  sink.face(event(1, "alice"));
  const auto got = sub.wait([](const auto& all) { return !all.empty(); });
  ASSERT_EQ(got.size(), 1u) << broker.log_text();
  EXPECT_EQ(json::parse(got[0].payload)["track_id"], 1);
  EXPECT_TRUE(sink.stats().connected);

  MqttOptions wrong = o;
  wrong.ca_file = p + "other.pem";
  wrong.client_id = "vlrface-door-wrong-ca";
  MqttSink refused(wrong, [] { return std::vector<std::string>{}; });
  ASSERT_TRUE(wait_until([&] { return refused.stats().state.rfind("retrying", 0) == 0; }, 10))
      << refused.stats().state;
  EXPECT_FALSE(refused.stats().connected);
  refused.face(event(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(track_ids(sub.messages()).count(2), 0u) << "sent to a broker it could not verify";
}

// Kills the broker (after it saved the subscriber's session), sends `during` events while it is
// away, restarts it and returns the track ids received, with the sink's stats.
struct Outage {
  std::multiset<std::int64_t> ids;
  vlrface::events::SinkStats stats;
};

class MqttRestart : public Mqtt {
 protected:
  Outage run(std::size_t capacity, int before, int during, int expected_total) {
    Outage out;
    vlrtest::Broker broker(dir_ / "broker");
    EXPECT_TRUE(broker.start()) << broker.log_text();
    // A persistent session, saved by the broker: what is published while the subscriber has
    // not reconnected yet waits for it, as it would for Home Assistant.
    vlrtest::Subscriber sub(broker.port(), {"vlrface/door/face"}, "vlrface-test-sub", false);
    EXPECT_TRUE(sub.ok() && sub.wait_subscribed());
    MqttOptions o = options(broker.port());
    o.queue_capacity = capacity;
    MqttSink sink(o, [] { return std::vector<std::string>{}; });
    int next = 1;
    for (int i = 0; i < before; ++i) sink.face(event(next++));
    sub.wait([&](const auto& all) { return static_cast<int>(track_ids(all).size()) >= before; });
    EXPECT_TRUE(wait_until([&] { return sink.stats().queued == 0; }, 10)) << "acknowledged";
    EXPECT_TRUE(broker.save()) << "mosquitto did not write its persistence file";
    broker.kill9();
    EXPECT_TRUE(wait_until([&] { return !sink.stats().connected; }, 10));
    for (int i = 0; i < during; ++i) sink.face(event(next++));
    // Frames go on meanwhile: the events wait (bounded), nothing blocks.
    const auto queued = sink.stats();
    EXPECT_EQ(queued.queued, std::min<std::size_t>(capacity, static_cast<std::size_t>(during)));
    EXPECT_TRUE(broker.start()) << broker.log_text();
    const auto got = sub.wait(
        [&](const auto& all) {
          const auto ids = track_ids(all);
          return static_cast<int>(std::set<std::int64_t>(ids.begin(), ids.end()).size()) >=
                 expected_total;
        },
        30);
    out.ids = track_ids(got);
    EXPECT_TRUE(wait_until([&] { return sink.stats().queued == 0; }, 10));
    out.stats = sink.stats();
    return out;
  }
};

TEST_F(MqttRestart, NothingLostWithinTheQueue) {
  VLR_REQUIRE_MOSQUITTO();
  const Outage r = run(/*capacity=*/20, /*before=*/3, /*during=*/15, /*expected_total=*/18);
  const std::set<std::int64_t> unique(r.ids.begin(), r.ids.end());
  for (int id = 1; id <= 18; ++id) EXPECT_TRUE(unique.count(id)) << "event " << id << " lost";
  EXPECT_EQ(r.stats.dropped, 0u);
  EXPECT_EQ(r.stats.delivered, 18u);
}

TEST_F(MqttRestart, BeyondTheQueueTheOldestAreDropped) {
  VLR_REQUIRE_MOSQUITTO();
  // 30 events during the outage, room for 20: events 4..13 (the oldest waiting) go.
  const Outage r = run(/*capacity=*/20, /*before=*/3, /*during=*/30, /*expected_total=*/23);
  const std::set<std::int64_t> unique(r.ids.begin(), r.ids.end());
  for (int id = 1; id <= 3; ++id) EXPECT_TRUE(unique.count(id)) << id;
  for (int id = 4; id <= 13; ++id) EXPECT_FALSE(unique.count(id)) << id << " should be dropped";
  for (int id = 14; id <= 33; ++id) EXPECT_TRUE(unique.count(id)) << "event " << id << " lost";
  EXPECT_EQ(r.stats.dropped, 10u);
}

}  // namespace
