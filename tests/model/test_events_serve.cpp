// `vlrface serve --mqtt --webhook` end to end: a video of an enrolled ORL person plays as the
// camera, a real broker (Debian's mosquitto, started here) and a local HTTP receiver get the
// events; the face event carries the enrolled name, each decided track is published once, Home
// Assistant discovery names the person, the webhook gets the same events, and SIGTERM ends with
// "offline".
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "../events/mqtt_test_util.hpp"
#include "model_env.hpp"
#include "serve_process.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Runs VLRFACE_CLI with `args`, stdout and stderr into `log`; returns the pid.
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv{const_cast<char*>(VLRFACE_CLI)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(VLRFACE_CLI, argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid, int seconds) {
  for (int i = 0; i < seconds * 20; ++i) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(ServeEvents, EnrolledPersonArrivesOverMqttAndWebhook) {
  vlrface::ModelStore store(vlrtest::model_dir());
  VLR_REQUIRE_MODEL(store, "edgeface_xxs");
  VLR_REQUIRE_MODEL(store, "yunet");
  VLR_REQUIRE_DATASET(orl, "orl");
  if (std::system("ffmpeg -version >/dev/null 2>&1") != 0) {
    VLR_MISSING("the ffmpeg program is not installed (Debian package ffmpeg)");
  }
  VLR_REQUIRE_MOSQUITTO();
  std::random_device rd;
  const fs::path tmp = fs::temp_directory_path() / ("vlrface-events-" + std::to_string(rd()));
  fs::create_directories(tmp);
  struct Cleanup {
    fs::path p;
    ~Cleanup() { fs::remove_all(p); }
  } cleanup{tmp};

  // s01 enrolled from images 1..3; the camera shows images 4..10 (never enrolled).
  const fs::path gallery = tmp / "g.vlrg";
  const std::vector<std::string> global = {"--models", vlrtest::model_dir().string(), "--gallery",
                                           gallery.string()};
  std::vector<std::string> enrol = global;
  enrol.push_back("enroll");
  enrol.push_back("s01");
  for (int i = 1; i <= 3; ++i) {
    enrol.push_back((orl / "images/s01" / (std::to_string(i) + ".jpg")).string());
  }
  ASSERT_EQ(wait_exit(spawn(enrol, tmp / "enroll.log"), 120), 0) << read_text(tmp / "enroll.log");
  for (int i = 4; i <= 10; ++i) {
    fs::copy_file(orl / "images/s01" / (std::to_string(i) + ".jpg"),
                  tmp / ("f" + std::to_string(i - 4) + ".jpg"));
  }
  const fs::path video = tmp / "camera.avi";
  const std::string cmd = "ffmpeg -nostdin -v error -y -framerate 2 -i " +
                          (tmp / "f%d.jpg").string() +
                          " -vf scale=320:320,pad=640:480:160:80:color=0x5a5a5a,fps=10,"
                          "format=yuvj420p -c:v mjpeg -q:v 3 " + video.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  vlrtest::Broker broker(tmp / "broker");
  ASSERT_TRUE(broker.start()) << broker.log_text();
  vlrtest::Subscriber sub(broker.port(), {"vlrface/#", "homeassistant/#"});
  ASSERT_TRUE(sub.ok() && sub.wait_subscribed());

  // The webhook's receiver.
  httplib::Server hook;
  std::mutex hook_mu;
  std::vector<json> hooked;
  hook.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lk(hook_mu);
    hooked.push_back(json::parse(req.body, nullptr, false));
    res.status = 204;
  });
  const int hook_port = hook.bind_to_any_port("127.0.0.1");
  ASSERT_GT(hook_port, 0);
  std::thread hook_thread([&] { hook.listen_after_bind(); });
  struct StopHook {
    httplib::Server& s;
    std::thread& t;
    ~StopHook() {
      while (!s.is_running() && t.joinable()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      s.stop();
      t.join();
    }
  } stop_hook{hook, hook_thread};

  std::vector<std::string> serve = global;
  const std::vector<std::string> extra = {"serve",   "--camera", video.string(), "--loop",
                                          "--port",  "0",        "--mqtt",
                                          "mqtt://127.0.0.1:" + std::to_string(broker.port()),
                                          "--camera-name", "testcam", "--webhook",
                                          "http://127.0.0.1:" + std::to_string(hook_port) +
                                              "/hook"};
  serve.insert(serve.end(), extra.begin(), extra.end());
  serve_test::ServeProcess server;
  ASSERT_TRUE(server.start(serve, tmp / "serve.log")) << read_text(tmp / "serve.log");
  const auto named = [](const std::vector<vlrtest::Received>& all) {
    for (const auto& m : vlrtest::on_topic(all, "vlrface/testcam/face")) {
      if (json::parse(m.payload)["name"] == "s01") return true;
    }
    return false;
  };
  auto got = sub.wait(named, 120);
  // /api/health lists both sinks, connected, each with what it delivered (the broker's PUBACK and
  // the webhook's 204 may follow the message by a moment).
  json sinks;
  httplib::Client api("127.0.0.1", server.port());
  for (int i = 0; i < 50; ++i) {
    const auto r = api.Get("/api/health");
    ASSERT_TRUE(r) << "no answer from /api/health";
    sinks = json::parse(r->body)["events"];
    if (sinks.is_array() && sinks.size() == 2 && sinks[0]["delivered"].get<int>() > 0 &&
        sinks[1]["delivered"].get<int>() > 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(sinks.is_array() && sinks.size() == 2) << sinks.dump();
  std::set<std::string> kinds;
  for (const json& k : sinks) {
    kinds.insert(k["sink"].get<std::string>());
    EXPECT_TRUE(k["connected"].get<bool>()) << k.dump();
    EXPECT_GT(k["delivered"].get<int>(), 0) << k.dump();
    EXPECT_EQ(k["dropped"].get<int>(), 0) << k.dump();
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"mqtt", "webhook"}));
  // A few seconds more: a track that kept its name must not be published again.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const int status = server.stop();
  const std::string log = read_text(tmp / "serve.log");
  // A clean stop sends what is queued, then "offline": after it, every event is in.
  got = sub.wait([](const auto& all) {
    const auto a = vlrtest::on_topic(all, "vlrface/testcam/availability");
    return !a.empty() && a.back().payload == "offline";
  }, 10);
  ASSERT_TRUE(named(got)) << "no face event named s01; serve log:\n" << log;
  EXPECT_EQ(status, 0) << log;

  std::set<std::pair<std::int64_t, std::string>> decisions;
  for (const auto& m : vlrtest::on_topic(got, "vlrface/testcam/face")) {
    const json e = json::parse(m.payload);
    EXPECT_EQ(e["camera"], "testcam");
    EXPECT_GT(e["track_id"].get<std::int64_t>(), 0);
    EXPECT_GT(e["box"]["w"].get<double>(), 0);
    EXPECT_GT(e["native_px"].get<double>(), 0);
    EXPECT_FALSE(e["recovery"].get<std::string>().empty());
    EXPECT_FALSE(e.contains("crop_jpeg")) << "crops are off by default";
    const std::string name = e["name"].is_null() ? "" : e["name"].get<std::string>();
    if (name == "s01") EXPECT_GT(e["similarity"].get<double>(), e["threshold"].get<double>());
    EXPECT_TRUE(decisions.insert({e["track_id"].get<std::int64_t>(), name}).second)
        << "track " << e["track_id"] << " published twice as '" << name << "'";
  }
  // The webhook got the same decisions (it is flushed before serve exits).
  std::set<std::pair<std::int64_t, std::string>> hooked_decisions;
  {
    std::lock_guard lk(hook_mu);
    for (const json& e : hooked) {
      ASSERT_TRUE(e.is_object());
      hooked_decisions.insert({e["track_id"].get<std::int64_t>(),
                               e["name"].is_null() ? "" : e["name"].get<std::string>()});
    }
  }
  EXPECT_EQ(hooked_decisions, decisions);
  EXPECT_FALSE(vlrtest::on_topic(got, "vlrface/testcam/person/s01").empty());
  const auto cfg = vlrtest::on_topic(got, "homeassistant/binary_sensor/vlrface_testcam/s01/config");
  ASSERT_FALSE(cfg.empty()) << "discovery config of the enrolled person";
  EXPECT_EQ(json::parse(cfg.back().payload)["name"], "s01 present");
  const auto avail = vlrtest::on_topic(got, "vlrface/testcam/availability");
  ASSERT_FALSE(avail.empty());
  EXPECT_EQ(avail.front().payload, "online");
  EXPECT_EQ(avail.back().payload, "offline") << "a clean stop says offline";
}

}  // namespace
