// The server library in-process: the real routes, checks and httplib settings on 127.0.0.1 (a
// free port), over a small gallery of synthetic faces, with no live engine and no model files
// (the state a failed model reload leaves: the live routes answer 503, the rest work). Requests
// are written byte for byte on a socket, so that headers such as `Transfer-Encoding: Chunked`
// reach the server exactly as an attacker would send them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "gallery_test_util.hpp"
#include "serve_access.hpp"
#include "serve_guard.hpp"
#include "serve_routes.hpp"
#include "serve_state.hpp"

namespace vlrface::serve {
namespace {

using gallery_test::TempDir;
constexpr const char* kToken = "fedcba9876543210fedcba9876543210";

struct Reply {
  int status = 0;
  httplib::Headers headers;
  std::string body;
  std::string header(const std::string& key) const {
    const auto it = headers.find(key);
    return it == headers.end() ? "" : it->second;
  }
  json body_json() const { return json::parse(body); }
};

// Sends `request` as is and reads the reply: its head, then Content-Length bytes (every reply of
// this server has one), or up to the server closing. 0 status: no reply in 10 s.
Reply send_raw(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Reply r;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // a refusal may close before the whole request is written
    sent += static_cast<std::size_t>(n);
  }
  std::string raw;
  std::size_t head_end = std::string::npos, want = std::string::npos;
  char buf[65536];
  while (want == std::string::npos || raw.size() < want) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
    if (head_end != std::string::npos || (head_end = raw.find("\r\n\r\n")) == std::string::npos) {
      continue;
    }
    std::size_t pos = raw.find("\r\n") + 2;
    while (pos < head_end) {
      const auto eol = raw.find("\r\n", pos);
      const std::string line = raw.substr(pos, eol - pos);
      const auto colon = line.find(':');
      r.headers.emplace(line.substr(0, colon), line.substr(line.find_first_not_of(' ', colon + 1)));
      pos = eol + 2;
    }
    if (r.headers.count("Content-Length")) {
      want = head_end + 4 + std::stoul(r.headers.find("Content-Length")->second);
    }
  }
  ::close(fd);
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return {};
  r.status = std::stoi(raw.substr(9, 3));
  r.body = raw.substr(head_end + 4);
  return r;
}

class InProcessServer : public ::testing::Test {
 protected:
  void SetUp() override { start(false); }
  void TearDown() override { halt(); }

  // `guarded`: with the connection guard the real server runs (slow or endless heads).
  void start(bool token, bool guarded = false) {
    gallery_ = dir_ / "gallery.vlrg";
    {
      Gallery g(gallery_, gallery_test::kModelA);
      g.enroll("ana", {gallery_test::face(1), gallery_test::face(2)});
      g.enroll("bo", {gallery_test::face(3)});
    }
    store_ = std::make_unique<ModelStore>(dir_ / "models");  // none: nothing can be loaded
    options_.max_upload_mb = 1;
    state_ = std::make_unique<ServeState>(
        ServeSetup{*store_, gallery_, {"edgeface_xxs", gallery_test::kModelA, 0.3f}, {}, false,
                   [this] {
                     std::lock_guard lk(sinks_mu_);
                     return sinks_;
                   }},
        options_);
    access_.loopback = true;
    access_.token_required = token;
    access_.token = token ? kToken : "";
    access_.max_body = std::size_t{1} << 20;
    add_routes(router_, *state_);
    configure_server(svr_, router_, options_, access_, state_->requests, guard_);
    port_ = svr_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    if (guarded) guard_ = std::make_unique<ConnectionGuard>(port_, ConnectionGuard::Options{});
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    for (int i = 0; i < 500 && !svr_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(svr_.is_running());
  }
  void halt() {
    if (!thread_.joinable()) return;
    svr_.stop();
    thread_.join();
    state_->stop();
  }

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  // A request with this server's Host header and Connection: close.
  Reply ask(const std::string& method, const std::string& path, const std::string& extra = "",
            const std::string& body = "") {
    std::string req =
        method + " " + path + " HTTP/1.1\r\nHost: " + host() + "\r\nConnection: close\r\n" + extra;
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    return send_raw(port_, req + "\r\n" + body);
  }
  Reply ask_json(const std::string& method, const std::string& path, const json& body,
                 const std::string& extra = "") {
    return ask(method, path, "Content-Type: application/json\r\n" + extra, body.dump());
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& p : Gallery(gallery_, gallery_test::kModelA).people()) out.push_back(p.name);
    return out;
  }

  TempDir dir_;
  std::filesystem::path gallery_;
  std::unique_ptr<ModelStore> store_;
  ServeOptions options_;
  std::mutex sinks_mu_;
  json sinks_ = json::array();  // what the fake event sinks report (events_status)
  std::unique_ptr<ServeState> state_;
  Access access_;
  Router router_;
  std::unique_ptr<ConnectionGuard> guard_;
  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(InProcessServer, ListsPeopleWithSecurityHeaders) {
  const Reply r = ask("GET", "/api/people");
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.body_json();
  EXPECT_EQ(j["total"], 2);
  EXPECT_EQ(j["people"][0]["name"], "ana");
  EXPECT_EQ(j["people"][0]["faces"], 2);
  EXPECT_EQ(j["people"][0]["thumbnail_url"], "/api/people/ana/faces/0.jpg");
  EXPECT_EQ(j["model_id"], gallery_test::kModelA);
  EXPECT_EQ(r.header("X-Frame-Options"), "DENY");
  EXPECT_EQ(r.header("Cache-Control"), "no-store");
  EXPECT_NE(r.header("Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
  const json q = ask("GET", "/api/people?q=B&limit=1").body_json();
  ASSERT_EQ(q["people"].size(), 1u);
  EXPECT_EQ(q["people"][0]["name"], "bo");
}

TEST_F(InProcessServer, RebindingHostReadsNothing) {
  for (const std::string host : {"127.0.0.1.evil.example", "127.evil.example"}) {
    const Reply r = send_raw(port_, "GET /api/people/ana/faces/0.jpg HTTP/1.1\r\nHost: " + host +
                                        ":" + std::to_string(port_) + "\r\n\r\n");
    EXPECT_EQ(r.status, 403) << host;
    EXPECT_EQ(r.header("Content-Type"), "application/json") << host;  // not the face
  }
}

TEST_F(InProcessServer, CrossOriginDeleteChangesNothing) {
  const Reply refused = ask("DELETE", "/api/people/ana", "Origin: http://evil.example\r\n");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(names(), (std::vector<std::string>{"ana", "bo"}));
  const Reply done = ask("DELETE", "/api/people/ana", "Origin: http://" + host() + "\r\n");
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.body_json()["removed"], "ana");
  EXPECT_EQ(names(), (std::vector<std::string>{"bo"}));
  EXPECT_EQ(ask("DELETE", "/api/people/ana").status, 404);
}

TEST_F(InProcessServer, ChunkedBodyIsRefusedUnread) {
  // No body follows the head: the answer must come without it (a body would be read to memory).
  const Reply r = send_raw(port_, "POST /api/people HTTP/1.1\r\nHost: " + host() +
                                      "\r\nTransfer-Encoding: Chunked\r\n"
                                      "Content-Type: application/json\r\n\r\n");
  EXPECT_EQ(r.status, 411) << r.body;
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_EQ(names(), (std::vector<std::string>{"ana", "bo"}));
}

TEST_F(InProcessServer, OversizedBodyIsRefusedUnread) {
  const Reply r = send_raw(port_, "POST /api/identify HTTP/1.1\r\nHost: " + host() +
                                      "\r\nContent-Type: image/png\r\nContent-Length: " +
                                      std::to_string((1 << 20) + 1) + "\r\n\r\n");
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_NE(r.body_json()["error"].get<std::string>().find("1 MB"), std::string::npos);
}

// The PNG of a small 16-bit RGBA image with its header saying `width` x `height`: what the
// header promises is all a limit checked before decoding sees; the pixels are not there.
std::string png_claiming(int width, int height) {
  std::vector<uchar> png;
  EXPECT_TRUE(cv::imencode(".png", cv::Mat(8, 8, CV_16UC4, cv::Scalar::all(0)), png));
  const auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) png[at + i] = static_cast<uchar>(v >> (24 - 8 * i));
  };
  put32(16, static_cast<std::uint32_t>(width));  // IHDR data starts at 16: width, height
  put32(20, static_cast<std::uint32_t>(height));
  std::uint32_t crc = 0xffffffffu;  // over the chunk type and data (bytes 12..28)
  for (std::size_t i = 12; i < 29; ++i) {
    crc ^= png[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  put32(29, ~crc);
  return std::string(png.begin(), png.end());
}

TEST_F(InProcessServer, DecompressionBombIs413BeforeAnyModel) {
  // 3000x3000 16-bit RGBA: 72 MB decoded, over the 64 MiB an upload may decode to, in a file of
  // a few hundred bytes. 413 from the header alone: decoding would find the data cut short (415),
  // and the route would otherwise need the models, which this server does not have (500).
  const std::string bomb = png_claiming(3000, 3000);
  ASSERT_LT(bomb.size(), 1024u);
  const std::string boundary = "vlrfacetestboundary";
  const std::string body = "--" + boundary +
                           "\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ndee\r\n--" +
                           boundary +
                           "\r\nContent-Disposition: form-data; name=\"images\"; "
                           "filename=\"bomb.png\"\r\nContent-Type: image/png\r\n\r\n" +
                           bomb + "\r\n--" + boundary + "--\r\n";
  const Reply r = ask("POST", "/api/people",
                      "Content-Type: multipart/form-data; boundary=" + boundary + "\r\n", body);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_NE(r.body.find("bomb.png"), std::string::npos) << r.body;
  // Control: the same file under the limit (2000x2000, 32 MB) is decoded, and found cut short.
  std::string small = body;
  small.replace(small.find(bomb), bomb.size(), png_claiming(2000, 2000));
  EXPECT_EQ(ask("POST", "/api/people",
                "Content-Type: multipart/form-data; boundary=" + boundary + "\r\n", small)
                .status,
            415);
  EXPECT_EQ(names(), (std::vector<std::string>{"ana", "bo"}));
}

TEST_F(InProcessServer, StoredFacesAndRename) {
  const Reply face = ask("GET", "/api/people/ana/faces/1.jpg");
  ASSERT_EQ(face.status, 200);
  EXPECT_EQ(face.header("Content-Type"), "image/jpeg");
  const cv::Mat img =
      cv::imdecode(std::vector<uchar>(face.body.begin(), face.body.end()), cv::IMREAD_COLOR);
  EXPECT_EQ(img.size(), cv::Size(112, 112));
  EXPECT_EQ(ask("GET", "/api/people/ana/faces/2.jpg").status, 404);
  EXPECT_EQ(ask("GET", "/api/people/nobody").status, 404);
  EXPECT_EQ(ask_json("PATCH", "/api/people/bo", {{"name", "ana"}}).status, 409);
  EXPECT_EQ(ask_json("PATCH", "/api/people/bo", {{"name", "../x"}}).status, 400);
  const Reply renamed = ask_json("PATCH", "/api/people/bo", {{"name", "cy"}});
  ASSERT_EQ(renamed.status, 200) << renamed.body;
  EXPECT_EQ(names(), (std::vector<std::string>{"ana", "cy"}));
  const json person = ask("GET", "/api/people/ana").body_json();
  EXPECT_EQ(person["face_urls"].size(), 2u);
}

TEST_F(InProcessServer, EnrolmentRequestsAreChecked) {
  EXPECT_EQ(ask_json("POST", "/api/people", {{"name", "ana"}}).status, 409);
  EXPECT_EQ(ask_json("POST", "/api/people", {{"name", "dee"}}).status, 400);
  EXPECT_EQ(ask_json("POST", "/api/people", {{"name", "dee"}, {"capture", 0}}).status, 400);
  EXPECT_EQ(ask("POST", "/api/people", "Content-Type: text/plain\r\n", "dee").status, 415);
  EXPECT_EQ(names(), (std::vector<std::string>{"ana", "bo"}));
}

TEST_F(InProcessServer, CaptureWithoutAnEngineFailsWithAReason) {
  const Reply started = ask_json("POST", "/api/people", {{"name", "dee"}, {"capture", 3}});
  ASSERT_EQ(started.status, 202) << started.body;
  const std::string url = started.header("Location");
  ASSERT_EQ(url, started.body_json()["url"].get<std::string>());
  json job;
  for (int i = 0; i < 100; ++i) {
    job = ask("GET", url).body_json();
    if (job["state"] == "failed" || job["state"] == "done") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(job["state"], "failed");
  EXPECT_NE(job["error"].get<std::string>().find("live engine is not running"), std::string::npos)
      << job.dump();
  EXPECT_EQ(names(), (std::vector<std::string>{"ana", "bo"}));
  EXPECT_EQ(ask("GET", "/api/capture/0123abcd").status, 404);
}

TEST_F(InProcessServer, LiveRoutesSayTheEngineIsDown) {
  const Reply health = ask("GET", "/api/health");
  EXPECT_EQ(health.status, 503);
  EXPECT_EQ(health.body_json()["status"], "engine_down");
  EXPECT_FALSE(health.body_json().contains("events")) << "no sinks, no events";
  EXPECT_EQ(ask("GET", "/api/snapshot").status, 503);
  EXPECT_EQ(ask("GET", "/api/settings").status, 503);
  EXPECT_EQ(ask("POST", "/api/identify", "Content-Type: image/png\r\n", "x").status, 503);
  const json m = ask("GET", "/api/metrics").body_json();
  EXPECT_GE(m["requests"].get<int>(), 5);
  EXPECT_EQ(m["request_models_loaded"], false);
}

// /api/health lists the event sinks' state as they report it, and a sink that is away does not
// change the status (the engine's state alone decides it).
TEST_F(InProcessServer, HealthListsTheEventSinks) {
  {
    std::lock_guard lk(sinks_mu_);
    sinks_ = json::array({{{"sink", "mqtt"}, {"connected", false}, {"queued", 3}}});
  }
  const Reply health = ask("GET", "/api/health");
  EXPECT_EQ(health.status, 503);
  const json h = health.body_json();
  EXPECT_EQ(h["status"], "engine_down");
  ASSERT_TRUE(h.contains("events")) << h.dump();
  EXPECT_EQ(h["events"], sinks_);
}

TEST_F(InProcessServer, PagesAndUnknownPaths) {
  const Reply page = ask("GET", "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("app.js"), std::string::npos);
  EXPECT_EQ(ask("GET", "/app.js").header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ask("GET", "/nothing.js").status, 404);
  const Reply unknown = ask("GET", "/api/nothing");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.header("Content-Type"), "application/json");
  const Reply wrong = ask("PUT", "/api/people");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.header("Allow"), "GET, POST, HEAD");
  const json models = ask("GET", "/api/models").body_json();
  EXPECT_EQ(models["active"]["embedder"], "edgeface_xxs");
  EXPECT_TRUE(models["models"].empty());
}

class InProcessServerWithToken : public InProcessServer {
 protected:
  void SetUp() override { start(true); }
};

// This process's peak resident memory, kB (VmHWM).
long peak_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

class GuardedServer : public InProcessServer {
 protected:
  void SetUp() override { start(false, true); }
};

// A request head that never ends, sent as fast as loopback takes it, before any authentication:
// httplib keeps every header line, so the guard must shut the connection within a few MB of
// memory. Watched only at its 200 ms discovery tick, such a client grew the server by 10-16 MB.
TEST_F(GuardedServer, EndlessRequestHeadIsCutWithinAFewMegabytes) {
  const long before = peak_kb();
  ASSERT_GT(before, 0);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{20, 0};  // a send blocked on a full window would otherwise wait for minutes
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string block = "GET /api/people HTTP/1.1\r\nHost: " + host() + "\r\n";
  std::string lines;
  for (int i = 0; i < 1000; ++i) lines += "X-Flood: " + std::string(100, 'v') + "\r\n";
  std::size_t sent = 0;
  bool cut = false;
  const std::size_t limit = std::size_t{64} << 20;
  while (sent < limit) {
    const std::string& data = sent == 0 ? block : lines;
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      cut = n < 0 && (errno == ECONNRESET || errno == EPIPE);
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  ::close(fd);
  const double grew_mb = static_cast<double>(peak_kb() - before) / 1024.0;
  EXPECT_TRUE(cut) << "the server took " << sent << " bytes of header lines without a reset";
  EXPECT_GE(guard_->dropped(), 1u);
  EXPECT_LE(grew_mb, 8.0) << "peak RSS grew by " << grew_mb << " MB";
  // The server still answers.
  EXPECT_EQ(ask("GET", "/api/people").status, 200);
}

TEST_F(InProcessServerWithToken, OnlyTheTokenOpensTheGallery) {
  EXPECT_EQ(ask("GET", "/api/people").status, 401);
  EXPECT_EQ(ask("GET", "/api/people/ana/faces/0.jpg").status, 401);
  EXPECT_EQ(ask("DELETE", "/api/people/ana").status, 401);
  EXPECT_EQ(names(), (std::vector<std::string>{"ana", "bo"}));
  EXPECT_EQ(ask("GET", "/").status, 303);
  EXPECT_EQ(ask("GET", "/login").status, 200);
  const std::string bearer = std::string("Authorization: Bearer ") + kToken + "\r\n";
  EXPECT_EQ(ask("GET", "/api/people", bearer).status, 200);
  EXPECT_EQ(
      ask("GET", "/api/people", std::string("Cookie: vlrface_token=") + kToken + "\r\n").status,
      200);
  EXPECT_EQ(ask("DELETE", "/api/people/ana", bearer).status, 200);
  EXPECT_EQ(names(), (std::vector<std::string>{"bo"}));
}

}  // namespace
}  // namespace vlrface::serve
