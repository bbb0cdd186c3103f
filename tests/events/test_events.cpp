// Event payloads, topic names, option parsing, and the live bridge's rule "one event per decided
// track" on synthetic frames (no models needed).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "ha_discovery.hpp"
#include "live_events.hpp"
#include "mqtt_sink.hpp"
#include "sinks.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/match.hpp"
#include "webhook_sink.hpp"

namespace fs = std::filesystem;
using namespace vlrface::events;
using nlohmann::json;

namespace {

TEST(EventJson, FieldsNullNameAndCrop) {
  FaceEvent e;
  e.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'764'337'585'123));
  e.camera = "door";
  e.similarity = 0.123456f;
  e.native_px = 17.25f;
  e.recovery = "bicubic";
  e.track_id = 42;
  e.box = {1.5f, 2, 30, 40};
  json j = to_json(e);
  EXPECT_EQ(j["time"], "2025-11-28T13:46:25.123Z");
  EXPECT_TRUE(j["name"].is_null());
  EXPECT_NEAR(j["similarity"].get<double>(), 0.123, 1e-9) << "three decimals";
  EXPECT_EQ(j["track_id"], 42);
  EXPECT_EQ(j["box"]["x"], 1.5);
  EXPECT_EQ(j["box"]["h"], 40);
  EXPECT_FALSE(j.contains("crop_jpeg"));
  e.name = "alice";
  e.crop_jpeg = {'M', 'a', 'n'};
  j = to_json(e);
  EXPECT_EQ(j["name"], "alice");
  EXPECT_EQ(j["crop_jpeg"], "TWFu");
}

TEST(EventJson, Base64) {
  EXPECT_EQ(base64({}), "");
  EXPECT_EQ(base64({'M'}), "TQ==");
  EXPECT_EQ(base64({'M', 'a'}), "TWE=");
  EXPECT_EQ(base64({'M', 'a', 'n', 0xff}), "TWFu/w==");
}

TEST(Topics, CameraNamesAndSlugs) {
  EXPECT_NO_THROW(check_camera_name("front-door_2"));
  for (const std::string& bad : std::vector<std::string>{"", "a/b", "door+", "#", "tür", std::string(65, 'a')}) {
    EXPECT_THROW(check_camera_name(bad), vlrface::Error) << bad;
  }
  try {
    check_camera_name("a/b");
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'/'"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(check_camera_name(default_camera_name()));
  EXPECT_EQ(person_slug("alice"), "alice");
  const std::string bob = person_slug("Bob Smith");
  EXPECT_TRUE(std::regex_match(bob, std::regex("bob_smith_[0-9a-f]{8}"))) << bob;
  EXPECT_NE(bob, person_slug("bob_smith"));
  EXPECT_NE(person_slug("Bob Smith"), person_slug("bob smith"));
  EXPECT_TRUE(std::regex_match(person_slug("Zoë/#+"), std::regex("[a-z0-9_]+"))) << "no wildcards";
  Topics t{"door"};
  EXPECT_EQ(t.face(), "vlrface/door/face");
  EXPECT_EQ(t.presence_config("alice"), "homeassistant/binary_sensor/vlrface_door/alice/config");
  const json p = presence_config(t, "alice", 45);
  EXPECT_EQ(p["off_delay"], 45);
  EXPECT_EQ(p["state_topic"], "vlrface/door/person/alice");
  EXPECT_EQ(last_person_config(t)["json_attributes_template"].get<std::string>().find("crop"),
            std::string::npos)
      << "a crop never goes into Home Assistant's attributes";
}

TEST(MqttUrl, ParsesAndRefuses) {
  MqttOptions o;
  parse_mqtt_url("mqtt://broker.local", o);
  EXPECT_EQ(o.host, "broker.local");
  EXPECT_EQ(o.port, 1883);
  EXPECT_FALSE(o.tls);
  parse_mqtt_url("mqtts://10.0.0.2:8884/", o);
  EXPECT_EQ(o.host, "10.0.0.2");
  EXPECT_EQ(o.port, 8884);
  EXPECT_TRUE(o.tls);
  parse_mqtt_url("mqtts://[::1]", o);
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 8883);
  for (const std::string bad : {"http://h", "mqtt://", "mqtt://u:p@h", "mqtt://h:0", "mqtt://h:x",
                                "mqtt://h:70000", "mqtt://h/topic", "mqtt://[::1"}) {
    EXPECT_THROW(parse_mqtt_url(bad, o), vlrface::Error) << bad;
  }
  try {
    parse_mqtt_url("mqtt://u:secret@h", o);
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--mqtt-password-file"), std::string::npos);
  }
}

TEST(MqttUrl, PasswordFileMustBeOwnerOnly) {
  std::random_device rd;
  const fs::path f = fs::temp_directory_path() / ("vlrface-pw-" + std::to_string(rd()));
  std::ofstream(f) << "s3cret\nignored\n";
  ::chmod(f.c_str(), 0644);
  EXPECT_THROW(read_password_file(f), vlrface::Error);
  ::chmod(f.c_str(), 0600);
  EXPECT_EQ(read_password_file(f), "s3cret");
  std::ofstream(f, std::ios::trunc) << "\n";
  EXPECT_THROW(read_password_file(f), vlrface::Error);
  fs::remove(f);
  EXPECT_THROW(read_password_file(f), vlrface::Error);
}

TEST(WebhookUrl, ParsesAndRefuses) {
  const WebhookUrl u = parse_webhook_url("http://127.0.0.1:8123/api/webhook/abc?x=1");
  EXPECT_EQ(u.origin, "http://127.0.0.1:8123");
  EXPECT_EQ(u.path, "/api/webhook/abc?x=1");
  EXPECT_EQ(parse_webhook_url("https://example.org").path, "/");
  for (const std::string bad : {"ftp://h/", "http://", "http://user:pw@h/x", "h:80/x"}) {
    EXPECT_THROW(parse_webhook_url(bad), vlrface::Error) << bad;
  }
}

TEST(SinkOptions, NothingAskedNothingMadeAndBadCombinationsNamed) {
  const auto none = [] { return std::vector<std::string>{}; };
  EXPECT_EQ(make_live_events({}, none), nullptr) << "serve without --mqtt/--webhook";
  const auto message = [&](SinkOptions o) {
    try {
      make_live_events(o, none);
    } catch (const vlrface::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  SinkOptions o;
  o.mqtt_user = "bob";
  EXPECT_NE(message(o).find("need --mqtt"), std::string::npos) << message(o);
  o = {};
  o.mqtt = "mqtt://127.0.0.1:1";
  o.mqtt_password_file = "/nonexistent";
  EXPECT_NE(message(o).find("needs --mqtt-user"), std::string::npos) << message(o);
  o = {};
  o.mqtt = "mqtt://127.0.0.1:1";
  o.mqtt_ca_file = "/etc/hostname";
  EXPECT_NE(message(o).find("mqtts://"), std::string::npos) << message(o);
  o = {};
  o.webhook = "http://127.0.0.1:1/x";
  o.camera = "front door";
  EXPECT_NE(message(o).find("--camera-name"), std::string::npos) << message(o);
}

// --- the live bridge ---------------------------------------------------------------------------

struct Recorder : EventSink {
  std::vector<FaceEvent> faces;
  std::vector<std::string> presents;
  int people_changes = 0;
  void face(const FaceEvent& e) override { faces.push_back(e); }
  void present(const std::string& name) override { presents.push_back(name); }
  void people_changed() override { ++people_changes; }
  SinkStats stats() const override { return {}; }
};

vlrface::live::LiveFace face(std::int64_t track, std::optional<std::string> name,
                             bool too_small = false) {
  vlrface::live::LiveFace f;
  f.track_id = track;
  f.name = std::move(name);
  f.similarity = f.name ? 0.6f : 0.0f;
  f.top = {{"carol", 0.11f}};
  f.box = {100, 50, 40, 50};
  f.native_px = 20;
  f.recovery = "bicubic";
  f.threshold = 0.23f;
  f.too_small = too_small;
  return f;
}

std::shared_ptr<vlrface::live::Snapshot> frame(double t, std::vector<vlrface::live::LiveFace> faces) {
  auto s = std::make_shared<vlrface::live::Snapshot>();
  s->timestamp = t;
  s->frame = cv::Mat(240, 320, CV_8UC3, cv::Scalar(40, 90, 160));
  s->faces = std::move(faces);
  return s;
}

TEST(LiveEvents, OneEventPerDecidedTrack) {
  auto rec = std::make_shared<Recorder>();
  LiveEventsOptions o;
  o.camera = "door";
  o.unknown_after_frames = 7;
  o.presence_refresh_s = 1.0;
  LiveEvents ev(o, {rec});
  auto m = std::make_shared<const vlrface::Matcher>();
  double t = 0;
  // Track 1: undecided for 2 frames, then alice for 40 frames (4 s at 10 fps).
  ev.on_frame(*frame(t += 0.1, {face(1, std::nullopt)}), m);
  ev.on_frame(*frame(t += 0.1, {face(1, std::nullopt)}), m);
  EXPECT_TRUE(rec->faces.empty()) << "undecided: no event yet";
  for (int i = 0; i < 40; ++i) ev.on_frame(*frame(t += 0.1, {face(1, "alice")}), m);
  ASSERT_EQ(rec->faces.size(), 1u) << "one event per decided track, not one per frame";
  EXPECT_EQ(rec->faces[0].name, "alice");
  EXPECT_EQ(rec->faces[0].camera, "door");
  EXPECT_EQ(rec->faces[0].track_id, 1);
  EXPECT_FLOAT_EQ(rec->faces[0].similarity, 0.6f);
  EXPECT_TRUE(rec->faces[0].crop_jpeg.empty()) << "crops are off by default";
  // Presence refreshed about once a second while alice stays (3 or 4 in 4 s).
  EXPECT_GE(rec->presents.size(), 3u);
  EXPECT_LE(rec->presents.size(), 4u);
  // A flicker back to undecided and to alice again is no new decision.
  ev.on_frame(*frame(t += 0.1, {face(1, std::nullopt)}), m);
  ev.on_frame(*frame(t += 0.1, {face(1, "alice")}), m);
  EXPECT_EQ(rec->faces.size(), 1u);

  // Track 2: unknown once seen for the vote window, then recognised: two events.
  for (int i = 0; i < 6; ++i) ev.on_frame(*frame(t += 0.1, {face(2, std::nullopt)}), m);
  EXPECT_EQ(rec->faces.size(), 1u);
  ev.on_frame(*frame(t += 0.1, {face(2, std::nullopt)}), m);
  ASSERT_EQ(rec->faces.size(), 2u);
  EXPECT_FALSE(rec->faces[1].name.has_value());
  EXPECT_FLOAT_EQ(rec->faces[1].similarity, 0.11f) << "unknown: the best candidate's similarity";
  for (int i = 0; i < 20; ++i) ev.on_frame(*frame(t += 0.1, {face(2, std::nullopt)}), m);
  EXPECT_EQ(rec->faces.size(), 2u) << "unknown is decided once";
  ev.on_frame(*frame(t += 0.1, {face(2, "bob")}), m);
  ASSERT_EQ(rec->faces.size(), 3u);
  EXPECT_EQ(rec->faces[2].name, "bob");

  // Too small to recognise: never decided, never an event.
  for (int i = 0; i < 30; ++i) ev.on_frame(*frame(t += 0.1, {face(3, std::nullopt, true)}), m);
  EXPECT_EQ(rec->faces.size(), 3u);
  EXPECT_EQ(rec->people_changes, 0);

  // Another gallery (a reload): the sinks hear of it once.
  auto m2 = std::make_shared<const vlrface::Matcher>();
  ev.on_frame(*frame(t += 0.1, {}), m2);
  ev.on_frame(*frame(t += 0.1, {}), m2);
  EXPECT_EQ(rec->people_changes, 1);
}

TEST(LiveEvents, CropsWhenAskedFor) {
  auto rec = std::make_shared<Recorder>();
  LiveEventsOptions o;
  o.camera = "door";
  o.crops = true;
  o.crop_max_side = 48;
  LiveEvents ev(o, {rec});
  ev.on_frame(*frame(0.1, {face(5, "alice")}), nullptr);
  ASSERT_EQ(rec->faces.size(), 1u);
  ASSERT_FALSE(rec->faces[0].crop_jpeg.empty());
  const cv::Mat crop = vlrface::decode_image(rec->faces[0].crop_jpeg, "crop");
  EXPECT_EQ(std::max(crop.cols, crop.rows), 48) << "shrunk to fit crop_max_side";
  EXPECT_NEAR(crop.at<cv::Vec3b>(10, 10)[2], 160, 8) << "the frame's pixels";
}

}  // namespace
