// The ServeApi fixture of the `vlrface serve` end-to-end tests (test_serve_api.cpp: the live
// view, clients, sources, access; test_serve_gallery.cpp: people, captures, models): a video made
// from ORL faces plays as the camera, the server starts on a free port, and plain POSIX sockets
// talk to it, so the tests need no HTTP library and can send exactly the malformed requests they
// want.
#pragma once

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

namespace serve_api_test {

namespace fs = std::filesystem;
using nlohmann::json;

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

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One request on its own connection. `max_bytes` stops reading early (for the endless stream).
inline Reply http(int port, const std::string& method, const std::string& path,
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

inline Reply get(int port, const std::string& path) {
  return http(port, "GET", path);
}
inline Reply send_json(int port, const std::string& method, const std::string& path,
                       const json& j) {
  return http(port, method, path, j.dump(), {"Content-Type: application/json"});
}

struct Part {
  std::string name, filename, content;
};

inline Reply post_multipart(int port, const std::string& path,
                            const std::vector<Part>& parts) {
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

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline Part image_part(const fs::path& p) {
  return {"images", p.filename().string(), read_file(p)};
}

inline bool have_ffmpeg() {
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

}  // namespace serve_api_test
