// `vlrface serve` end to end over HTTP, as a client would use it: the live view, its settings
// and stream, slow clients, failing sources and the access token; SIGTERM must stop the server
// cleanly with exit status 0. The fixture: serve_api_fixture.hpp.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "serve_api_fixture.hpp"

using namespace serve_api_test;  // NOLINT: the fixture's helpers, as in one file before

TEST_F(ServeApi, LiveViewSettingsAndStream) {
  PREPARE_OR_SKIP();
  Server s;
  start(s);
  const int port = s.port();
  EXPECT_EQ(s.first_line(),
            "vlrface serve: listening on http://127.0.0.1:" + std::to_string(port) + "/\n");

  // 200 once frames are processed (503 "starting" before the first one).
  const Reply health = wait_health(port, 200, 30);
  ASSERT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(health.js()["status"], "ok");
  EXPECT_EQ(health.js()["source_state"], "running");
  EXPECT_FALSE(health.js().contains("source_error")) << health.body;
  EXPECT_EQ(health.header("content-type"), "application/json");

  // A face is in view (the gallery is empty: unknown).
  const json snap = wait_snapshot(
      port, [](const json& j) { return !j["faces"].empty(); }, 20);
  ASSERT_FALSE(snap["faces"].empty()) << snap.dump();
  EXPECT_EQ(snap["width"], 640);
  EXPECT_EQ(snap["height"], 480);
  const json face = snap["faces"][0];
  for (const char* k : {"track_id", "box", "name", "similarity", "top", "status"}) {
    EXPECT_TRUE(face.contains(k)) << k;
  }

  const Reply m = get(port, "/api/metrics");
  ASSERT_EQ(m.status, 200);
  const json mj = m.js();
  for (const char* k : {"fps", "frame_number", "rss_mb", "rss_peak_mb", "threads", "source_state",
                        "stages_ms", "clients"}) {
    EXPECT_TRUE(mj.contains(k)) << k;
  }
  EXPECT_GT(mj["rss_peak_mb"].get<double>(), 0);
  EXPECT_TRUE(mj["stages_ms"].contains("detect"));

  // The selected face's pictures: nearest-enlarged input and the upscaled 112x112.
  const std::string id = std::to_string(face["track_id"].get<long long>());
  const Reply low = get(port, "/api/faces/" + id + "/lowres.png");
  if (low.status == 200) {  // the track may just have ended; then 404 is right
    EXPECT_EQ(low.header("content-type"), "image/png");
    const cv::Mat img =
        cv::imdecode(std::vector<uchar>(low.body.begin(), low.body.end()), cv::IMREAD_COLOR);
    EXPECT_EQ(img.cols % 16, 0);  // 16 px input, each pixel an integer-sized block
    EXPECT_GE(img.cols, 112);
  } else {
    EXPECT_EQ(low.status, 404);
  }
  EXPECT_EQ(get(port, "/api/faces/999999/upscaled.png").status, 404);
  // The picture network's picture is offered only for a face that was made smaller (not for
  // one recognised at full size by the base model).
  ASSERT_TRUE(face.contains("enhanced_url")) << face.dump();
  EXPECT_EQ(face["enhanced_url"].is_null(), face["recovery"] == "base") << face.dump();
  EXPECT_EQ(get(port, "/api/faces/999999/enhanced.png").status, 404);

  // MJPEG: multipart/x-mixed-replace with JPEG parts.
  const Reply st = http(port, "GET", "/api/stream", "", {}, 40000);
  EXPECT_EQ(st.status, 200);
  EXPECT_NE(st.header("content-type").find("multipart/x-mixed-replace"), std::string::npos);
  EXPECT_NE(st.body.find("Content-Type: image/jpeg"), std::string::npos);
  EXPECT_NE(st.body.find("\xff\xd8\xff"), std::string::npos);

  // Settings: resolution switch without restart, validation errors.
  Reply set = send_json(port, "PUT", "/api/settings", {{"resolution", 24}});
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(set.js()["resolution"], 24);
  EXPECT_EQ(get(port, "/api/settings").js()["resolution"], 24);
  EXPECT_EQ(wait_snapshot(
                port, [](const json& j) { return j["resolution"] == 24; }, 5)["resolution"],
            24);
  EXPECT_EQ(send_json(port, "PUT", "/api/settings", {{"resolution", 20}}).status, 400);
  EXPECT_EQ(send_json(port, "PUT", "/api/settings", {{"mode", "zoom"}}).status, 400);
  EXPECT_EQ(send_json(port, "PUT", "/api/settings", {{"threshold", 3}}).status, 400);
  EXPECT_EQ(send_json(port, "PUT", "/api/settings", {{"task", "verify"}}).status, 400);
  EXPECT_EQ(send_json(port, "PUT", "/api/settings", {{"colour", "red"}}).status, 400);
  set = send_json(port, "PUT", "/api/settings", {{"threshold", 0.5}, {"mode", "native"}});
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_NEAR(set.js()["threshold"].get<double>(), 0.5, 1e-6);
  EXPECT_EQ(set.js()["mode"], "native");
  set = send_json(port, "PUT", "/api/settings", {{"threshold", nullptr}});
  EXPECT_TRUE(set.js()["threshold_is_default"].get<bool>());
  // The shown threshold says what it is calibrated for (native mode: a 16 px face and the
  // recovery chosen for it), beside the models table's full-size one.
  const std::string basis = set.js()["threshold_basis"].get<std::string>();
  EXPECT_EQ(basis.rfind("16 px, ", 0), 0u) << basis;
  EXPECT_NE(basis.find(", native faces"), std::string::npos) << basis;
  EXPECT_NE(set.js()["threshold_note"].get<std::string>().find(basis), std::string::npos);
  EXPECT_GT(set.js()["model_threshold"].get<double>(), 0);
  set = send_json(port, "PUT", "/api/settings", {{"mode", "simulate"}, {"resolution", 24}});
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(set.js()["threshold_basis"].get<std::string>().rfind("24 px, ", 0), 0u) << set.body;
  EXPECT_NE(set.js()["threshold_basis"].get<std::string>().find("simulated faces"),
            std::string::npos);
  // Simulated 24 px faces: each has the picture network's 112 px picture (the prepared models
  // include it).
  const json sim = wait_snapshot(
      port,
      [](const json& j) {
        // The settings are the current ones; the faces may be of a frame processed before
        // the switch: wait for one that was brought down to 24 px.
        return !j["faces"].empty() && j["faces"][0]["working_px"] == 24;
      },
      20);
  ASSERT_FALSE(sim["faces"].empty()) << sim.dump();
  const std::string sid = std::to_string(sim["faces"][0]["track_id"].get<long long>());
  EXPECT_EQ(sim["faces"][0]["enhanced_url"], "/api/faces/" + sid + "/enhanced.png") << sim.dump();
  const Reply pic = get(port, "/api/faces/" + sid + "/enhanced.png");
  if (pic.status == 200) {  // as above: the track may just have ended
    EXPECT_EQ(pic.header("content-type"), "image/png");
    const cv::Mat img =
        cv::imdecode(std::vector<uchar>(pic.body.begin(), pic.body.end()), cv::IMREAD_COLOR);
    EXPECT_EQ(img.size(), cv::Size(112, 112));
  } else {
    EXPECT_EQ(pic.status, 404) << pic.body;
  }
  const Reply bad =
      http(port, "PUT", "/api/settings", "{\"resolution\": ", {"Content-Type: application/json"});
  EXPECT_EQ(bad.status, 400);
  EXPECT_FALSE(bad.error().empty());
  EXPECT_EQ(http(port, "PUT", "/api/settings", "resolution=16",
                 {"Content-Type: application/x-www-form-urlencoded"})
                .status,
            415);

  // The page and its files are compiled in.
  const Reply page = get(port, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<title>vlrface</title>"), std::string::npos);
  EXPECT_EQ(get(port, "/app.js").status, 200);
  EXPECT_EQ(get(port, "/app.css").header("content-type"), "text/css; charset=utf-8");

  EXPECT_EQ(s.stop(), 0) << read_file(tmp_ / "serve.log");
}

TEST_F(ServeApi, SlowClientsDoNotStarveOthers) {
  PREPARE_OR_SKIP();
  Server s;
  start(s, {"--header-timeout-ms", "4000"});  // workers: 3 + 4 streams = 7
  const int port = s.port();
  ASSERT_EQ(get(port, "/api/metrics").status, 200);
  std::vector<int> slow;
  for (int i = 0; i < 10; ++i) {  // more than the 7 workers
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string start_line = "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    ASSERT_GT(::send(fd, start_line.data(), start_line.size(), MSG_NOSIGNAL), 0);
    slow.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> closed{0};
  std::thread trickle([&] {  // a header line from each every 500 ms, as the attack does
    std::vector<bool> open(slow.size(), true);
    for (int round = 0; !stop && round < 40; ++round) {
      for (std::size_t i = 0; i < slow.size(); ++i) {
        if (!open[i]) continue;
        const std::string line = "X-Slow-" + std::to_string(round) + ": 1\r\n";
        if (::send(slow[i], line.data(), line.size(), MSG_NOSIGNAL) <= 0) {
          open[i] = false;
          ++closed;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  // Other clients are answered at once, while the attack goes on.
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const Reply r = get(port, "/api/metrics");
    const double s_taken =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.status, 200) << "request " << i << " during the attack";
    EXPECT_LT(s_taken, 2.0) << "request " << i << " waited behind slow clients";
  }
  // Every slow connection is closed by the server once the header timeout is over.
  for (int i = 0; i < 40 && closed < static_cast<int>(slow.size()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  stop = true;
  trickle.join();
  EXPECT_EQ(closed.load(), static_cast<int>(slow.size())) << "slow connections still open";
  for (int fd : slow) ::close(fd);
  EXPECT_EQ(get(port, "/api/metrics").status, 200);
  EXPECT_EQ(s.stop(), 0);
}

TEST_F(ServeApi, FailedEndedOrMissingSourceIsVisible) {
  PREPARE_OR_SKIP();
  const auto log = [&] { return read_file(tmp_ / "serve.log"); };
  {  // A video file that is not a video: failed, retried, and picked up once it is one.
    const fs::path good = video_;
    video_ = tmp_ / "broken.avi";
    std::string junk(20000, '\0');
    for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>(i * 7919 % 251);
    std::ofstream(video_, std::ios::binary) << junk;
    Server s;
    start(s);
    const Reply down = wait_health_status(s.port(), "source_failed", 30);
    ASSERT_EQ(down.status, 503) << down.body;
    const json h = down.js();
    ASSERT_EQ(h["status"], "source_failed") << down.body;
    EXPECT_NE(h["source"].get<std::string>().find("broken.avi"), std::string::npos) << down.body;
    EXPECT_NE(h["source_error"].get<std::string>().find("broken.avi"), std::string::npos)
        << down.body;
    const std::string since = h["source_down_since"].get<std::string>();
    EXPECT_EQ(since.size(), 20u) << since;  // 2026-11-28T14:03:05Z
    EXPECT_EQ(since.back(), 'Z');
    EXPECT_GE(h["source_down_for_s"].get<double>(), 0);
    EXPECT_GE(h["source_failures"].get<int>(), 1);
    // The terminal says so, once per failure (not once per retry).
    for (int i = 0; i < 25 && log().find("failed at") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_NE(log().find("broken.avi"), std::string::npos) << log();
    EXPECT_NE(log().find("failed at " + since), std::string::npos) << log();
    // Repaired (the next retry opens a real video): ok again, and the terminal says that too.
    fs::copy_file(good, tmp_ / "repaired.avi");
    fs::rename(tmp_ / "repaired.avi", video_);
    const Reply up = wait_health(s.port(), 200, 40);
    EXPECT_EQ(up.status, 200) << up.body;
    EXPECT_EQ(up.js()["status"], "ok");
    for (int i = 0; i < 25 && log().find("frames again") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_NE(log().find("frames again"), std::string::npos) << log();
    std::size_t lines = 0;
    for (std::size_t p = log().find("failed at"); p != std::string::npos;
         p = log().find("failed at", p + 1)) {
      ++lines;
    }
    EXPECT_EQ(lines, 1u) << "one line per failure, not per retry:\n" << log();
    EXPECT_EQ(s.stop(), 0) << log();
    video_ = good;
  }
  {  // A video that plays to its end (no --loop): 503 "source_ended", with a line.
    Server s;
    std::vector<std::string> args = serve_args();
    args.erase(std::find(args.begin(), args.end(), "--loop"));
    ASSERT_TRUE(s.start(args, tmp_ / "serve.log")) << log();
    const Reply ended = wait_health_status(s.port(), "source_ended", 60);
    ASSERT_EQ(ended.status, 503) << ended.body;
    EXPECT_EQ(ended.js()["status"], "source_ended") << ended.body;
    EXPECT_EQ(ended.js()["source_state"], "ended");
    EXPECT_GT(ended.js()["frame_number"].get<int>(), 0);
    EXPECT_TRUE(ended.js().contains("source_down_since"));
    for (int i = 0; i < 25 && log().find("ended at") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_NE(log().find("ended at"), std::string::npos) << log();
    EXPECT_EQ(s.stop(), 0) << log();
  }
  {  // A camera device that does not exist: failed from the start, never ok.
    Server s;
    std::vector<std::string> args = serve_args();
    *std::find(args.begin(), args.end(), video_.string()) = "/dev/video97";
    ASSERT_TRUE(s.start(args, tmp_ / "serve.log")) << log();
    // "starting" (503) until the first attempt fails, then "source_failed"; never ok.
    Reply r;
    for (int i = 0; i < 150; ++i) {
      r = get(s.port(), "/api/health");
      ASSERT_EQ(r.status, 503) << r.body;
      if (r.js()["status"] == "source_failed") break;
      ASSERT_EQ(r.js()["status"], "starting") << r.body;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_EQ(r.js()["status"], "source_failed") << r.body;
    EXPECT_NE(r.js()["source_error"].get<std::string>().find("/dev/video97"), std::string::npos)
        << r.body;
    for (int i = 0; i < 25 && log().find("failed at") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_NE(log().find("/dev/video97"), std::string::npos) << log();
    EXPECT_NE(log().find("failed at"), std::string::npos) << log();
    EXPECT_EQ(s.stop(), 0) << log();
  }
  {  // A file path that does not exist is refused at start, by name.
    Server s;
    std::vector<std::string> args = serve_args();
    const std::string gone = (tmp_ / "no-such-clip.mp4").string();
    *std::find(args.begin(), args.end(), video_.string()) = gone;
    EXPECT_FALSE(s.start(args, tmp_ / "serve.log"));
    EXPECT_EQ(s.wait(20), 1);
    EXPECT_NE(log().find(gone), std::string::npos) << log();
    EXPECT_NE(log().find("does not exist"), std::string::npos) << log();
  }
}

TEST_F(ServeApi, AccessToken) {
  PREPARE_OR_SKIP();
  {  // Another address without a token is refused before anything starts.
    Server s;
    EXPECT_FALSE(s.start(serve_args({"--host", "0.0.0.0"}), tmp_ / "refused.log"));
    EXPECT_EQ(s.wait(20), 1);
    EXPECT_NE(read_file(tmp_ / "refused.log").find("without an access token"), std::string::npos)
        << read_file(tmp_ / "refused.log");
  }
  const fs::path token_file = tmp_ / "conf" / "token";
  Server s;
  start(s, {"--require-token", "--token-file", token_file.string()});
  const int port = s.port();
  // Generated: 64 hex digits, mode 0600, printed once.
  struct stat st {};
  ASSERT_EQ(::stat(token_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string token = read_file(token_file);
  token.erase(token.find_last_not_of("\n") + 1);
  EXPECT_EQ(token.size(), 64u);

  EXPECT_EQ(get(port, "/api/health").status, 401);
  EXPECT_EQ(get(port, "/api/stream").status, 401);
  EXPECT_EQ(get(port, "/app.js").status, 401);
  EXPECT_EQ(http(port, "GET", "/api/health", "", {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(http(port, "GET", "/api/metrics", "", {"Authorization: Bearer " + token}).status, 200);
  EXPECT_EQ(get(port, "/").status, 303);  // to the login page
  EXPECT_EQ(get(port, "/login").status, 200);
  const Reply q = get(port, "/?token=" + token);
  EXPECT_EQ(q.status, 303);
  const std::string cookie = q.header("set-cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  const std::string pair = cookie.substr(0, cookie.find(';'));
  EXPECT_EQ(http(port, "GET", "/api/metrics", "", {"Cookie: " + pair}).status, 200);
  EXPECT_EQ(http(port, "GET", "/api/metrics", "", {"Cookie: vlrface_token=nope"}).status, 401);
  EXPECT_EQ(s.stop(), 0);
  EXPECT_NE(s.rest().find(token), std::string::npos);  // shown once, when generated

  // Second run: the same token, not printed again.
  Server again;
  start(again, {"--token-file", token_file.string()});
  EXPECT_EQ(
      http(again.port(), "GET", "/api/metrics", "", {"Authorization: Bearer " + token}).status,
      200);
  EXPECT_EQ(again.stop(), 0);
  EXPECT_EQ(again.rest().find(token), std::string::npos);

  // On all interfaces the address to open is this machine's name, not 0.0.0.0.
  Server wide;
  start(wide, {"--host", "0.0.0.0", "--token-file", (tmp_ / "conf" / "token2").string()});
  EXPECT_EQ(wide.stop(), 0);
  char name[256] = {};
  ASSERT_EQ(::gethostname(name, sizeof name - 1), 0);
  const std::string out = wide.rest();
  EXPECT_NE(
      out.find("open http://" + std::string(name) + ":" + std::to_string(wide.port()) + "/?token="),
      std::string::npos)
      << out;
  EXPECT_EQ(out.find("http://0.0.0.0"), std::string::npos) << out;
}

// Two processes, one truth: a person enrolled or removed by the CLI while serve runs on the same
// gallery reaches the live view and /api/identify within seconds (serve watches the file's
// PRAGMA data_version), not only the changes made through serve itself.
