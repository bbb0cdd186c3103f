// `vlrface serve` end to end over HTTP, as a client would use it: a video made from ORL faces
// plays as the camera, the server starts on a free port, every endpoint is called (and its
// errors), and SIGTERM must stop it cleanly with exit status 0. Plain POSIX sockets: the test
// needs no HTTP library, and can send exactly the malformed requests it wants.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "../unit/test_util.hpp"
#include "model_env.hpp"
#include "serve_process.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  json js() const { return json::parse(body, nullptr, false); }
  std::string error() const {
    const json j = js();
    return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : "";
  }
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One request on its own connection. `max_bytes` stops reading early (for the endless stream).
Reply http(int port, const std::string& method, const std::string& path,
           const std::string& body = "", std::vector<std::string> headers = {},
           std::size_t max_bytes = std::string::npos) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Reply r;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nConnection: close\r\n";
  bool has_length = false, has_host = false;
  for (const auto& h : headers) {
    req += h + "\r\n";
    has_length |=
        lower(h).rfind("content-length:", 0) == 0 || lower(h).rfind("transfer-encoding:", 0) == 0;
    has_host |= lower(h).rfind("host:", 0) == 0;
  }
  if (!has_host) req += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  if (!has_length) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n";
  const auto send_all = [fd](const std::string& data) {
    for (std::size_t sent = 0; sent < data.size();) {
      const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
  };
  send_all(req);
  // Like curl, hold a large body back a moment: a server that refuses it from the headers
  // (413, 401) answers and closes, and the unread body would turn the close into a reset.
  pollfd early{fd, POLLIN, 0};
  if (body.size() < (64u << 10) || ::poll(&early, 1, 300) == 0) send_all(body);
  std::string raw;
  char buf[65536];
  while (raw.size() < max_bytes) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return r;
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  if (line.size() > 12) r.status = std::stoi(line.substr(9, 3));
  while (std::getline(head, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(' '));
    if (!v.empty() && v.back() == '\r') v.pop_back();
    r.headers[lower(line.substr(0, colon))] = v;
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

Reply get(int port, const std::string& path) {
  return http(port, "GET", path);
}
Reply send_json(int port, const std::string& method, const std::string& path, const json& j) {
  return http(port, method, path, j.dump(), {"Content-Type: application/json"});
}

struct Part {
  std::string name, filename, content;
};

Reply post_multipart(int port, const std::string& path, const std::vector<Part>& parts) {
  const std::string b = "vlrfacetestboundary";
  std::string body;
  for (const Part& p : parts) {
    body += "--" + b + "\r\nContent-Disposition: form-data; name=\"" + p.name + "\"";
    if (!p.filename.empty()) body += "; filename=\"" + p.filename + "\"";
    body += "\r\n";
    if (!p.filename.empty()) body += "Content-Type: application/octet-stream\r\n";
    body += "\r\n" + p.content + "\r\n";
  }
  body += "--" + b + "--\r\n";
  return http(port, "POST", path, body, {"Content-Type: multipart/form-data; boundary=" + b});
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

Part image_part(const fs::path& p) {
  return {"images", p.filename().string(), read_file(p)};
}

bool have_ffmpeg() {
  return std::system("ffmpeg -version >/dev/null 2>&1") == 0;
}

using Server = serve_test::ServeProcess;

class ServeApi : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    tmp_ = fs::temp_directory_path() / ("vlrface-serve-" + std::to_string(rd()));
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Skips unless models, ORL and ffmpeg are there; then makes the camera video.
  bool prepare() {
    // A binary built without `serve` has nothing to test here: a skip, or a failure where the
    // whole suite must run (VLRFACE_REQUIRE_MODELS=1, as in CI).
    if (std::system((std::string(VLRFACE_CLI) + " serve --help >/dev/null 2>&1").c_str()) != 0) {
      missing(std::string(VLRFACE_CLI) + " has no serve command");
      return false;
    }
    vlrface::ModelStore store(vlrtest::model_dir());
    if (!store.has("edgeface_xxs") || !store.has("yunet")) {
      missing("models not prepared in " + vlrtest::model_dir().string());
      return false;
    }
    const auto orl = vlrtest::dataset("orl");
    if (!orl) {
      missing("dataset 'orl' not found: set VLRFACE_DATA");
      return false;
    }
    orl_ = *orl / "images";
    if (!have_ffmpeg()) {
      missing("ffmpeg not installed (apt-get install ffmpeg)");
      return false;
    }
    // One ORL person (s01, probe images 4..10) at twice its size in a 640x480 frame, each image
    // for half a second: a face large and varied enough for the enrolment capture too.
    for (int i = 4; i <= 10; ++i) {
      fs::copy_file(orl_ / "s01" / (std::to_string(i) + ".jpg"),
                    tmp_ / ("f" + std::to_string(i - 4) + ".jpg"));
    }
    video_ = tmp_ / "camera.avi";
    const std::string cmd = "ffmpeg -v error -y -framerate 2 -i " + (tmp_ / "f%d.jpg").string() +
                            " -vf scale=320:320,pad=640:480:160:80:color=0x5a5a5a,fps=10,"
                            "format=yuvj420p -c:v mjpeg -q:v 3 " +
                            video_.string();
    if (std::system(cmd.c_str()) != 0 || !fs::exists(video_)) {
      ADD_FAILURE() << "ffmpeg could not make the test video: " << cmd;
      return false;
    }
    return true;
  }

  // A 640x480 MJPEG video of these images (twice their size, centred), each for half a second.
  fs::path make_video(const std::vector<fs::path>& images, const std::string& name) {
    const fs::path dir = tmp_ / (name + "-frames");
    fs::create_directories(dir);
    for (std::size_t i = 0; i < images.size(); ++i) {
      fs::copy_file(images[i], dir / ("f" + std::to_string(i) + ".jpg"));
    }
    const fs::path video = tmp_ / (name + ".avi");
    const std::string cmd = "ffmpeg -v error -y -framerate 2 -i " + (dir / "f%d.jpg").string() +
                            " -vf scale=320:320,pad=640:480:160:80:color=0x5a5a5a,fps=10,"
                            "format=yuvj420p -c:v mjpeg -q:v 3 " +
                            video.string();
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return video;
  }

  // Waits until /api/health answers `status` or `seconds` pass; returns the last answer.
  Reply wait_health(int port, int status, int seconds) {
    Reply r;
    for (int i = 0; i < seconds * 5; ++i) {
      r = get(port, "/api/health");
      if (r.status == status) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return r;
  }

  // Waits until /api/health's "status" is `status` or `seconds` pass; returns the last answer.
  Reply wait_health_status(int port, const std::string& status, int seconds) {
    Reply r;
    for (int i = 0; i < seconds * 5; ++i) {
      r = get(port, "/api/health");
      const json j = r.js();
      if (j.is_object() && j.value("status", "") == status) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return r;
  }

  void missing(const std::string& why) {
    if (vlrtest::models_required()) {
      ADD_FAILURE() << "VLRFACE_REQUIRE_MODELS is set: " << why;
    } else {
      skipped_ = why;
    }
  }

  std::vector<std::string> serve_args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {"--models",      vlrtest::model_dir().string(),
                                  "--gallery",     (tmp_ / "g.vlrg").string(),
                                  "serve",         "--camera",
                                  video_.string(), "--loop",
                                  "--port",        "0"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Starts the server; fails the test with its log otherwise.
  void start(Server& s, std::vector<std::string> extra = {}) {
    ASSERT_TRUE(s.start(serve_args(std::move(extra)), tmp_ / "serve.log"))
        << "first line: '" << s.first_line() << "'\n"
        << read_file(tmp_ / "serve.log");
  }

  // Waits until the snapshot satisfies `ok` or `seconds` pass.
  json wait_snapshot(int port, const std::function<bool(const json&)>& ok, int seconds) {
    json last;
    for (int i = 0; i < seconds * 5; ++i) {
      const Reply r = get(port, "/api/snapshot");
      if (r.status == 200) {
        last = r.js();
        if (ok(last)) return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return last;
  }

  fs::path tmp_, orl_, video_;
  std::string skipped_;
};

#define PREPARE_OR_SKIP()                            \
  if (!prepare()) {                                  \
    if (!skipped_.empty()) GTEST_SKIP() << skipped_; \
    return;                                          \
  }

}  // namespace

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

TEST_F(ServeApi, GalleryCaptureAndIdentify) {
  PREPARE_OR_SKIP();
  Server s;
  start(s);
  const int port = s.port();
  // Enrol s01..s03 from their gallery images (multipart upload).
  for (const char* who : {"s01", "s02", "s03"}) {
    std::vector<Part> parts = {{"name", "", who}};
    for (int i = 1; i <= 3; ++i)
      parts.push_back(image_part(orl_ / who / (std::to_string(i) + ".jpg")));
    const Reply r = post_multipart(port, "/api/people", parts);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(r.js()["enrolled"], 3);
  }
  Reply people = get(port, "/api/people");
  ASSERT_EQ(people.status, 200);
  EXPECT_EQ(people.js()["total"], 3);
  EXPECT_EQ(people.js()["people"][0]["name"], "s01");
  EXPECT_EQ(people.js()["people"][0]["faces"], 3);
  const Reply thumb = get(port, people.js()["people"][0]["thumbnail_url"].get<std::string>());
  EXPECT_EQ(thumb.status, 200);
  EXPECT_EQ(thumb.header("content-type"), "image/jpeg");
  EXPECT_EQ(get(port, "/api/people/s01/faces/3.jpg").status, 404);
  EXPECT_EQ(get(port, "/api/people/nobody/faces/0.jpg").status, 404);

  // The live view names the person in front of the camera.
  ASSERT_EQ(send_json(port, "PUT", "/api/settings", {{"resolution", 32}}).status, 200);
  const json snap = wait_snapshot(
      port, [](const json& j) { return !j["faces"].empty() && j["faces"][0]["name"] == "s01"; },
      30);
  ASSERT_FALSE(snap["faces"].empty());
  EXPECT_EQ(snap["faces"][0]["name"], "s01") << snap.dump();
  EXPECT_EQ(snap["faces"][0]["top"][0]["name"], "s01");
  EXPECT_EQ(snap["faces"][0]["gallery_url"], "/api/people/s01/faces/0.jpg");

  // Errors of enrolment: taken name, bad name, no face, not an image, too large.
  EXPECT_EQ(
      post_multipart(port, "/api/people", {{"name", "", "s01"}, image_part(orl_ / "s01/4.jpg")})
          .status,
      409);
  const Reply badname =
      post_multipart(port, "/api/people", {{"name", "", "a/b"}, image_part(orl_ / "s05/1.jpg")});
  EXPECT_EQ(badname.status, 400);
  EXPECT_NE(badname.error().find("name"), std::string::npos);
  std::vector<uchar> grey;
  cv::imencode(".png", cv::Mat(200, 200, CV_8UC3, cv::Scalar(128, 128, 128)), grey);
  EXPECT_EQ(post_multipart(port, "/api/people",
                           {{"name", "", "nobody"},
                            {"images", "grey.png", std::string(grey.begin(), grey.end())}})
                .status,
            422);
  EXPECT_EQ(post_multipart(port, "/api/people",
                           {{"name", "", "junk"}, {"images", "junk.jpg", "this is not an image"}})
                .status,
            415);
  std::vector<uchar> wide;
  cv::imencode(".png", cv::Mat(64, 5000, CV_8UC3, cv::Scalar(0, 0, 0)), wide);
  const Reply toowide = post_multipart(
      port, "/api/people",
      {{"name", "", "wide"}, {"images", "wide.png", std::string(wide.begin(), wide.end())}});
  EXPECT_EQ(toowide.status, 413);
  EXPECT_NE(toowide.error().find("5000x64"), std::string::npos) << toowide.body;
  const Reply huge =
      post_multipart(port, "/api/people",
                     {{"name", "", "huge"}, {"images", "big.jpg", std::string(9 << 20, 'x')}});
  EXPECT_EQ(huge.status, 413);
  EXPECT_FALSE(huge.error().empty());
  EXPECT_EQ(post_multipart(port, "/api/people", {{"name", "", "nofile"}}).status, 400);

  // Add faces to an existing person, rename, delete.
  Reply add = post_multipart(port, "/api/people/s02/faces", {image_part(orl_ / "s02/4.jpg")});
  ASSERT_EQ(add.status, 200) << add.body;
  EXPECT_EQ(add.js()["faces"], 4);
  EXPECT_EQ(post_multipart(port, "/api/people/zed/faces", {image_part(orl_ / "s02/4.jpg")}).status,
            404);
  EXPECT_EQ(send_json(port, "PATCH", "/api/people/s02", {{"name", "s03"}}).status, 409);
  EXPECT_EQ(send_json(port, "PATCH", "/api/people/s02", {{"name", " x"}}).status, 400);
  EXPECT_EQ(send_json(port, "PATCH", "/api/people/zed", {{"name", "y"}}).status, 404);
  const Reply ren = send_json(port, "PATCH", "/api/people/s02", {{"name", "Zoë Two"}});
  ASSERT_EQ(ren.status, 200) << ren.body;
  EXPECT_EQ(get(port, "/api/people/Zo%C3%AB%20Two/faces/3.jpg").status, 200);
  EXPECT_EQ(get(port, "/api/people/Zo%C3%AB%20Two").js()["faces"], 4);
  EXPECT_EQ(http(port, "DELETE", "/api/people/Zo%C3%AB%20Two").status, 200);
  EXPECT_EQ(http(port, "DELETE", "/api/people/Zo%C3%AB%20Two").status, 404);
  EXPECT_EQ(get(port, "/api/people").js()["total"], 2);

  // Identify an uploaded image (raw body), same shape as `vlrface identify --json`.
  const Reply id = http(port, "POST", "/api/identify?res=full", read_file(orl_ / "s03/5.jpg"),
                        {"Content-Type: image/jpeg"});
  ASSERT_EQ(id.status, 200) << id.body;
  const json idj = id.js();
  ASSERT_TRUE(idj.is_array());
  ASSERT_EQ(idj[0]["faces"].size(), 1u);
  EXPECT_EQ(idj[0]["faces"][0]["name"], "s03");
  EXPECT_EQ(idj[0]["faces"][0]["status"], "ok");
  EXPECT_TRUE(idj[0]["faces"][0]["box"].contains("width"));
  EXPECT_LE(idj[0]["faces"][0]["top"].size(), 5u);
  EXPECT_EQ(http(port, "POST", "/api/identify", "garbage", {"Content-Type: image/jpeg"}).status,
            415);
  EXPECT_EQ(http(port, "POST", "/api/identify?res=3", read_file(orl_ / "s03/5.jpg"),
                 {"Content-Type: image/jpeg"})
                .status,
            400);

  // Capture from the camera with progress.
  Reply cap = send_json(port, "POST", "/api/people", {{"name", "camera person"}, {"capture", 2}});
  ASSERT_EQ(cap.status, 202) << cap.body;
  const std::string url = cap.js()["url"].get<std::string>();
  EXPECT_EQ(send_json(port, "POST", "/api/people", {{"name", "other"}, {"capture", 2}}).status,
            409);
  json job;
  for (int i = 0; i < 150; ++i) {
    job = get(port, url).js();
    if (job["state"] == "done" || job["state"] == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(job["state"], "done") << job.dump();
  EXPECT_EQ(job["enrolled"], 2);
  // The camera shows s01, who is enrolled already: enrolled anyway, with a warning naming s01.
  ASSERT_FALSE(job["already_enrolled"].empty()) << job.dump();
  EXPECT_EQ(job["already_enrolled"][0]["name"], "s01") << job.dump();
  EXPECT_GT(job["already_enrolled"][0]["similarity"].get<double>(), 0.2);
  EXPECT_NE(job["warning"].get<std::string>().find("s01"), std::string::npos) << job.dump();
  EXPECT_EQ(get(port, "/api/capture/0123abcd").status, 404);
  EXPECT_EQ(send_json(port, "POST", "/api/people", {{"name", "n"}, {"capture", 0}}).status, 400);
  EXPECT_EQ(get(port, "/api/people/camera%20person").js()["faces"], 2);

  // Verify task against an enrolled person.
  const Reply ver =
      send_json(port, "PUT", "/api/settings", {{"task", "verify"}, {"verify_name", "s01"}});
  EXPECT_EQ(ver.status, 200) << ver.body;

  EXPECT_EQ(s.stop(), 0) << read_file(tmp_ / "serve.log");
}

// Slowloris: clients that send a header line now and then, never ending their request head,
// must neither starve other clients nor hold a connection past the header timeout.
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

TEST_F(ServeApi, ModelsRoutingAndErrors) {
  PREPARE_OR_SKIP();
  Server s;
  start(s, {"--max-upload-mb", "1"});
  const int port = s.port();
  const Reply models = get(port, "/api/models");
  ASSERT_EQ(models.status, 200);
  const json mj = models.js();
  EXPECT_EQ(mj["active"]["embedder"], "edgeface_xxs");
  bool has_xxs = false;
  for (const auto& m : mj["models"]) has_xxs |= m["name"] == "edgeface_xxs" && m["active"] == true;
  EXPECT_TRUE(has_xxs) << mj.dump();

  const Reply reload = send_json(port, "POST", "/api/models/reload", json::object());
  ASSERT_EQ(reload.status, 200) << reload.body;
  EXPECT_EQ(reload.js()["embedder"], "edgeface_xxs");
  EXPECT_EQ(send_json(port, "POST", "/api/models/reload", {{"embedder", "nope"}}).status, 404);
  EXPECT_EQ(send_json(port, "POST", "/api/models/reload", {{"embedder", "yunet"}}).status, 400);
  // The adapted models serve inside the recovery of small faces: listed as such, refused as the
  // main embedder, and the gallery is not re-embedded for them.
  int adapted = 0;
  for (const auto& m : mj["models"]) {
    if (m["kind"] != "embedder") continue;
    const std::string name = m["name"].get<std::string>();
    const bool internal = name.find("_r") != std::string::npos ||
                          (name.size() > 3 && name.compare(name.size() - 3, 3, "_lr") == 0);
    EXPECT_EQ(m["adapted"].get<bool>(), internal) << m.dump();
    if (!internal) continue;
    ++adapted;
    const std::string gallery_before = get(port, "/api/models").js()["gallery_model_id"];
    const Reply refused =
        send_json(port, "POST", "/api/models/reload", {{"embedder", name}, {"reembed", true}});
    EXPECT_EQ(refused.status, 400) << name << ": " << refused.body;
    EXPECT_NE(refused.error().find("adapted model"), std::string::npos) << refused.body;
    EXPECT_EQ(get(port, "/api/models").js()["gallery_model_id"], gallery_before) << name;
    EXPECT_EQ(get(port, "/api/models").js()["active"]["embedder"], "edgeface_xxs");
  }
  if (vlrface::ModelStore(vlrtest::model_dir()).has("edgeface_xxs_r16")) {
    EXPECT_GT(adapted, 0) << "edgeface_xxs_r16 is prepared but not listed as adapted";
  }
  // After the reload the engine runs again.
  EXPECT_FALSE(wait_snapshot(
                   port, [](const json& j) { return !j["faces"].empty(); }, 20)["faces"]
                   .empty());

  const Reply unknown = get(port, "/api/nothing");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_FALSE(unknown.error().empty());
  EXPECT_EQ(get(port, "/nothing.js").status, 404);
  const Reply wrong = http(port, "DELETE", "/api/health");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.header("allow"), "GET, HEAD");
  EXPECT_FALSE(wrong.error().empty());
  EXPECT_EQ(
      http(port, "POST", "/api/people", "{\"name\": ", {"Content-Type: application/json"}).status,
      400);
  EXPECT_EQ(http(port, "POST", "/api/people", "[1,2]", {"Content-Type: application/json"}).status,
            400);
  const Reply big =
      http(port, "POST", "/api/identify", std::string(3 << 20, 'x'), {"Content-Type: image/jpeg"});
  EXPECT_EQ(big.status, 413);
  EXPECT_FALSE(big.error().empty());
  // A decompression bomb under the byte limit: a header-only PNG claiming 4096x4096 16-bit
  // RGBA (128 MiB decoded) is refused from its header, before a pixel is allocated.
  const Reply bomb = http(port, "POST", "/api/identify",
                          vlrtest::png_header_only(4096, 4096, 16, 6), {"Content-Type: image/png"});
  EXPECT_EQ(bomb.status, 413) << bomb.body;
  EXPECT_NE(bomb.error().find("decodes to 128.0 MiB"), std::string::npos) << bomb.body;
  EXPECT_EQ(http(port, "POST", "/api/identify", "5\r\nhello\r\n0\r\n\r\n",
                 {"Content-Type: image/jpeg", "Transfer-Encoding: chunked"})
                .status,
            411);
  {  // The port is taken: a second server must fail, not share it.
    Server second;
    const std::vector<std::string> args = {"--models",
                                           vlrtest::model_dir().string(),
                                           "--gallery",
                                           (tmp_ / "g2.vlrg").string(),
                                           "serve",
                                           "--camera",
                                           video_.string(),
                                           "--port",
                                           std::to_string(port)};
    EXPECT_FALSE(second.start(args, tmp_ / "second.log"));
    EXPECT_EQ(second.wait(20), 1);
    EXPECT_NE(read_file(tmp_ / "second.log").find("cannot listen"), std::string::npos);
  }
  // A page elsewhere must not drive the local server (DNS rebinding, cross-site forms).
  EXPECT_EQ(http(port, "GET", "/api/health", "", {"Host: evil.example"}).status, 403);
  // Names that only start like a loopback address are other machines (DNS rebinding).
  for (const char* h : {"127.evil.example", "127.0.0.1.evil.example", "127.0.0.1.nip.io:80",
                        "localhost.evil.example", "127.0.0.1evil"}) {
    EXPECT_EQ(http(port, "GET", "/api/people", "", {std::string("Host: ") + h}).status, 403) << h;
  }
  EXPECT_EQ(http(port, "POST", "/api/identify", "x",
                 {"Host: 127.0.0.1.evil.example", "Origin: http://127.0.0.1.evil.example"})
                .status,
            403);
  EXPECT_EQ(http(port, "GET", "/api/metrics", "", {"Host: LOCALHOST"}).status, 200);
  // Transfer-Encoding in any spelling is refused before the body is read.
  for (const char* te : {"Transfer-Encoding: Chunked", "transfer-encoding: CHUNKED",
                         "Transfer-Encoding: gzip, chunked"}) {
    EXPECT_EQ(http(port, "POST", "/api/identify", "5\r\nhello\r\n0\r\n\r\n",
                   {"Content-Type: image/jpeg", te})
                  .status,
              411)
        << te;
  }
  EXPECT_EQ(http(port, "POST", "/api/identify", "x", {"Origin: http://evil.example"}).status, 403);
  // Garbage on the wire is answered, and the server carries on.
  EXPECT_EQ(http(port, "BREW", "/api/health").status / 100, 4);
  EXPECT_EQ(get(port, "/api/metrics").status, 200);

  EXPECT_EQ(s.stop(), 0) << read_file(tmp_ / "serve.log");
}

// A frame source that fails, ends or does not exist is visible: /api/health answers 503 with
// which source, why and since when, and the terminal (stderr) gets a line; both say when frames
// come again.
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

TEST_F(ServeApi, CaptureOfTwoPeopleIsRefused) {
  PREPARE_OR_SKIP();
  // s01 and s02 take turns in front of the camera, half a second each.
  std::vector<fs::path> images;
  for (int i = 4; i <= 8; ++i) {
    images.push_back(orl_ / "s01" / (std::to_string(i) + ".jpg"));
    images.push_back(orl_ / "s02" / (std::to_string(i) + ".jpg"));
  }
  video_ = make_video(images, "two-people");
  Server s;
  start(s);
  const int port = s.port();
  Reply cap = send_json(port, "POST", "/api/people", {{"name", "mixed"}, {"capture", 4}});
  ASSERT_EQ(cap.status, 202) << cap.body;
  json job;
  for (int i = 0; i < 200; ++i) {
    job = get(port, cap.js()["url"].get<std::string>()).js();
    if (job["state"] == "done" || job["state"] == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(job["state"], "failed") << job.dump();
  const std::string why = job["error"].get<std::string>();
  EXPECT_NE(why.find("not all the same person"), std::string::npos) << why;
  EXPECT_NE(why.find("threshold"), std::string::npos) << why;
  EXPECT_EQ(job["enrolled"], 0);
  EXPECT_EQ(get(port, "/api/people/mixed").status, 404) << "nothing is enrolled";
  EXPECT_EQ(get(port, "/api/people").js()["total"], 0);
  EXPECT_EQ(s.stop(), 0) << read_file(tmp_ / "serve.log");
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
TEST_F(ServeApi, GalleryChangesByTheCliReachTheRunningServer) {
  PREPARE_OR_SKIP();
  Server s;
  start(s);
  const int port = s.port();
  const std::string cli = std::string(VLRFACE_CLI) + " --models " + vlrtest::model_dir().string() +
                          " --gallery " + (tmp_ / "g.vlrg").string();
  // The name /api/identify gives s01's probe (null: unknown or no face).
  const auto identify = [&] {
    const Reply r = http(port, "POST", "/api/identify?res=full", read_file(orl_ / "s01/5.jpg"),
                         {"Content-Type: image/jpeg"});
    const json j = r.js();
    if (r.status != 200 || !j.is_array() || j[0]["faces"].empty()) return json();
    return j[0]["faces"][0]["name"];
  };
  // Whether the live view's best candidate for the face in front of the camera is s01.
  const auto live_top_is_s01 = [](const json& snap) {
    return snap.contains("faces") && !snap["faces"].empty() && !snap["faces"][0]["top"].empty() &&
           snap["faces"][0]["top"][0]["name"] == "s01";
  };
  EXPECT_TRUE(identify().is_null());

  std::string images;
  for (int i = 1; i <= 3; ++i) {
    images += " " + (orl_ / "s01" / (std::to_string(i) + ".jpg")).string();
  }
  ASSERT_EQ(std::system((cli + " enroll s01" + images + " >/dev/null 2>&1").c_str()), 0);
  auto changed = std::chrono::steady_clock::now();
  json snap = wait_snapshot(port, live_top_is_s01, 10);
  EXPECT_TRUE(live_top_is_s01(snap)) << snap.dump();
  const auto seen_in = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - changed).count();
  };
  EXPECT_LT(seen_in(), 5.0) << "enrolment by the CLI reached the live view only after that long";
  EXPECT_EQ(identify(), "s01");

  ASSERT_EQ(std::system((cli + " gallery remove s01 >/dev/null 2>&1").c_str()), 0);
  changed = std::chrono::steady_clock::now();
  snap = wait_snapshot(
      port,
      [&](const json& j) {
        return j.contains("faces") && !j["faces"].empty() && !live_top_is_s01(j);
      },
      10);
  EXPECT_FALSE(live_top_is_s01(snap)) << snap.dump();
  EXPECT_LT(seen_in(), 5.0) << "removal by the CLI reached the live view only after that long";
  EXPECT_TRUE(identify().is_null()) << "s01 was removed but is still recognised";
  EXPECT_EQ(s.stop(), 0) << read_file(tmp_ / "serve.log");
}
