// The HTTP request path: each input is sent as raw bytes (request line, headers, body; several
// requests when the input holds several) to an in-process httplib server on a loopback port,
// with the web server library's (vlrface_serve) request check (serve_access: Host, Origin,
// encodings, lengths, token) and plumbing: Router (404/405, exceptions to JSON errors),
// json_body, uploads (multipart and raw bodies), decode_upload (pixel and decoded-byte limits),
// int_param, url_segment. The routes are stand-ins with the real patterns, each doing the
// parsing its real handler starts with (the real handlers need a gallery and models).
// Checks: the server answers every request it parses, and never with a 500 (bad input gets a
// 4xx naming what is wrong); nothing crashes, leaks or hangs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "fuzz_util.hpp"
#include "serve_access.hpp"
#include "serve_http.hpp"

namespace {

using namespace vlrface::serve;
using vlrface::fuzz::require;

constexpr const char* kToken = "fuzz-token-0123456789abcdef";
constexpr std::size_t kMaxBody = std::size_t{1} << 20;

// The server's own pre-body check (vlrface_serve's check_request: Host, Origin, Transfer- and
// Content-Encoding, Content-Length, two lengths, the token), with a token required so that the
// token paths are fuzzed too.
const Access& access() {
  static const Access a = [] {
    Access x;
    x.loopback = true;
    x.token_required = true;
    x.token = kToken;
    x.max_body = kMaxBody;
    return x;
  }();
  return a;
}

json decoded(const Req& req, int shrink_to) {
  ImageLimits limits;
  limits.max_side = 512;
  limits.max_decoded_bytes = std::size_t{4} << 20;
  json out = json::array();
  for (const Upload& up : uploads(req)) {
    double scale = 0;
    const cv::Mat img = decode_upload(up, limits, shrink_to, &scale);
    require(img.type() == CV_8UC3 && img.cols <= limits.max_side && img.rows <= limits.max_side,
            "decode_upload gave an image outside its limits");
    out.push_back({{"file", up.filename}, {"width", img.cols}, {"scale", scale}});
  }
  return out;
}

// The serve routes' patterns, each with the plumbing its real handler starts with.
Router make_router() {
  Router r;
  r.add("GET", "/api/people", [](const Req& req, Res& res, const Params&) {
    send_json(res, {{"offset", int_param(req, "offset", 0, 0, 1 << 30)},
                    {"limit", int_param(req, "limit", 1 << 30, 1, 1 << 30)}});
  });
  r.add("POST", "/api/people", [](const Req& req, Res& res, const Params&) {
    if (req.is_multipart_form_data()) return send_json(res, decoded(req, 0));
    const json body = json_body(req);
    send_json(res, {{"url", "/api/people/" + url_segment(body.at("name").get<std::string>())}});
  });
  r.add("GET", "/api/people/([^/]+)", [](const Req&, Res& res, const Params& p) {
    send_json(res, {{"name", url_segment(p[0])}});
  });
  r.add("PATCH", "/api/people/([^/]+)", [](const Req& req, Res& res, const Params& p) {
    send_json(res, {{"from", p[0]}, {"to", json_body(req).value("name", "")}});
  });
  r.add("DELETE", "/api/people/([^/]+)", [](const Req&, Res& res, const Params& p) {
    send_json(res, {{"removed", p[0]}});
  });
  r.add("POST", "/api/people/([^/]+)/faces",
        [](const Req& req, Res& res, const Params&) { send_json(res, decoded(req, 0)); });
  r.add("POST", "/api/identify", [](const Req& req, Res& res, const Params&) {
    const int top = int_param(req, "top", 5, 1, 50);
    send_json(res, {{"top", top}, {"faces", decoded(req, 64)}});
  });
  r.add("GET", "/api/capture/([0-9a-f]+)", [](const Req&, Res& res, const Params& p) {
    send_json(res, {{"id", p[0]}});
  });
  r.add("PUT", "/api/settings",
        [](const Req& req, Res& res, const Params&) { send_json(res, json_body(req)); });
  r.add("GET", "/api/stream", [](const Req& req, Res& res, const Params&) {
    send_json(res, {{"fps", int_param(req, "fps", 15, 1, 30)}});
  });
  return r;
}

struct Server {
  Router router = make_router();
  httplib::Server svr;
  int port = 0;
  std::thread thread;
  Server() {
    svr.new_task_queue = [] { return new httplib::ThreadPool(2); };
    svr.set_payload_max_length(kMaxBody);
    svr.set_read_timeout(1);
    svr.set_keep_alive_timeout(1);
    svr.set_pre_routing_handler(
        [](const Req& req, Res& res) { return check_request(req, res, access()); });
    svr.set_exception_handler(
        [](const Req&, Res& res, std::exception_ptr) { send_error(res, 500, "internal error"); });
    // What the body limit promises every handler (httplib inflated compressed bodies past it).
    router.install(svr, [](const Req& req) {
      require(req.body.size() <= kMaxBody,
              "a handler got a body of " + std::to_string(req.body.size()) +
                  " bytes, over the limit of " + std::to_string(kMaxBody));
    });
    port = svr.bind_to_any_port("127.0.0.1");
    require(port > 0, "cannot bind a loopback port");
    thread = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Server() {
    svr.stop();
    thread.join();
  }
};

Server& server() {
  static Server s;
  return s;
}

// Sends `bytes`, closes the sending side, returns all that came back.
std::string exchange(int port, const std::uint8_t* data, std::size_t size) {
  int fd = -1;
  // libFuzzer's own timers may interrupt connect (EINTR): a new socket, not a failed input.
  for (int attempt = 0; fd < 0; ++attempt) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    require(fd >= 0, "socket");
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Closed with a reset (linger 0): thousands of connections a second would otherwise leave
    // the loopback's ephemeral ports in TIME_WAIT until connect fails.
    const linger reset{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
    const int err = errno;
    ::close(fd);
    fd = -1;
    require(err == EINTR && attempt < 5, std::string("connect: ") + std::strerror(err));
  }
  for (std::size_t sent = 0; sent < size;) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed early (a refusal): fine
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) reply.append(buf, n);
  ::close(fd);
  return reply;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // dispatch logs unexpected errors: noise here
  server();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string reply = exchange(server().port, data, size);
  // The first response's status (later ones cannot be told from a body that echoes the request
  // without knowing which were HEAD). Nothing at all is fine: an empty input, or a connection
  // httplib drops.
  if (reply.empty()) return 0;
  require(reply.rfind("HTTP/1.1 ", 0) == 0 && reply.size() >= 12,
          "not an HTTP response:\n" + reply.substr(0, 200));
  const std::string status = reply.substr(9, 3);
  // 503: the server out of memory or busy, not a handler failing on the input.
  require(status[0] != '5' || status == "503", "server answered " + reply.substr(0, 400));
  return 0;
}
