// `vlrface serve`: options, start-up checks, access control and the server's life cycle.
#include "serve.hpp"

#include <malloc.h>
#include <pthread.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <ctime>
#include <iostream>
#include <mutex>
#include <thread>

#include "serve_auth.hpp"
#include "serve_guard.hpp"
#include "serve_http.hpp"
#include "serve_routes.hpp"
#include "serve_state.hpp"
#include "sinks.hpp"
#include "vlrface/error.hpp"

namespace vlrface::cli {
namespace {

using HR = httplib::Server::HandlerResponse;
constexpr const char* kCookie = "vlrface_token";

struct Access {
  bool loopback = true;  // bound to a loopback address: Host headers must say so too
  bool token_required = false;
  std::string token;
  std::size_t max_body = 0;
};

std::string host_part(const std::string& host_header) {
  if (!host_header.empty() && host_header[0] == '[') {
    return host_header.substr(0, host_header.find(']') + 1);
  }
  return host_header.substr(0, host_header.find(':'));
}

HR reject(Res& res, int status, const std::string& message) {
  // The request body may still be unread: close rather than parse it as the next request.
  res.set_header("Connection", "close");
  send_error(res, status, message);
  return HR::Handled;
}

// Runs before the body is read: refusals cost no upload.
HR check_request(const Req& req, Res& res, const Access& access, ServeState& state) {
  ++state.requests;
  const std::string host = req.get_header_value("Host");
  // A page on another site that resolves its own name to 127.0.0.1 (DNS rebinding) must not
  // reach a server that trusts loopback.
  if (access.loopback && !host.empty() && !is_loopback_host(host_part(host))) {
    return reject(res, 403, "unexpected Host header '" + host + "'");
  }
  if (req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS") {
    const std::string origin = req.get_header_value("Origin");
    if (!origin.empty() && origin != "http://" + host) {
      return reject(res, 403, "cross-origin request refused (Origin " + origin + ")");
    }
  }
  // httplib 0.11 applies the body limit to Content-Length only, so an endless chunked body would
  // be read into memory; browsers and curl -F always send a length.
  // Any Transfer-Encoding at all (header names and values are case-insensitive: "Chunked" is
  // chunked too) is refused before the body is read.
  if (req.get_header_value_count("Transfer-Encoding") > 0) {
    return reject(res, 411, "chunked request bodies are not accepted: send Content-Length");
  }
  // httplib inflates a gzip/deflate/br body with no limit on what it inflates to: a 300 KB gzip
  // body took the server from 38 to 559 MB. No client of this server compresses its requests.
  if (req.get_header_value_count("Content-Encoding") > 0) {
    return reject(res, 415, "compressed request bodies are not accepted (Content-Encoding)");
  }
  if (req.get_header_value_count("Content-Length") &&
      std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) >
          access.max_body) {
    return reject(res, 413,
                  "request body larger than the limit of " +
                      std::to_string(access.max_body / (1024 * 1024)) + " MB");
  }
  // The login page and what it shows are public: they hold nothing but a form.
  if (!access.token_required || req.path == "/login" || req.path == "/login.css" ||
      req.path == "/favicon.svg") {
    return HR::Unhandled;
  }

  const std::string auth = req.get_header_value("Authorization");
  const bool by_header =
      auth.rfind("Bearer ", 0) == 0 && tokens_equal(auth.substr(7), access.token);
  const bool by_cookie =
      tokens_equal(cookie_value(req.get_header_value("Cookie"), kCookie), access.token);
  const bool by_query =
      req.has_param("token") && tokens_equal(req.get_param_value("token"), access.token);
  if (by_query) {
    res.set_header("Set-Cookie", std::string(kCookie) + "=" + access.token +
                                     "; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000");
    if (req.method == "GET" && req.path.rfind("/api/", 0) != 0) {
      // Take the token out of the address bar (and history) once the cookie holds it.
      res.set_redirect(req.path, 303);
      return HR::Handled;
    }
  }
  if (by_header || by_cookie || by_query) return HR::Unhandled;
  if (req.method == "GET" && (req.path == "/" || req.path == "/index.html")) {
    res.set_redirect("/login", 303);
    return HR::Handled;
  }
  res.set_header("WWW-Authenticate", "Bearer realm=\"vlrface\"");
  return reject(res, 401,
                "an access token is required: send 'Authorization: Bearer <token>' or open "
                "/?token=<token> once");
}

void configure(httplib::Server& svr, const ServeOptions& o, const Access& access,
               ServeState& state, const std::unique_ptr<ConnectionGuard>& guard) {
  const std::size_t pool = static_cast<std::size_t>(o.http_threads + o.max_streams);
  svr.new_task_queue = [pool] { return new httplib::ThreadPool(pool); };
  svr.set_payload_max_length(access.max_body);
  // httplib's default also sets SO_REUSEPORT, with which a second server on the same port starts
  // "fine" and the kernel splits the connections between the two: a busy port must fail.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // A connection holds a pool thread while it is open: short keep-alive keeps threads free.
  svr.set_keep_alive_timeout(2);
  svr.set_keep_alive_max_count(100);
  svr.set_read_timeout(10);
  svr.set_write_timeout(10);
  svr.set_default_headers({
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Content-Security-Policy",
       "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
  });
  svr.set_pre_routing_handler([&access, &state, &guard](const Req& req, Res& res) {
    if (guard) guard->request_started(req.remote_addr, req.remote_port);
    return check_request(req, res, access, state);
  });
  svr.set_post_routing_handler([](const Req&, Res& res) {
    if (!res.has_header("Cache-Control")) res.set_header("Cache-Control", "no-store");
  });
  // httplib's own refusals (malformed request line, body over the limit) get a JSON body too.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([](const Req&, Res& res) {
    if (!res.body.empty()) return HR::Unhandled;
    send_error(res, res.status, status_text(res.status));
    return HR::Handled;
  }));
  svr.set_exception_handler(
      [](const Req&, Res& res, std::exception_ptr) { send_error(res, 500, "internal error"); });
  svr.set_logger([&guard](const Req& req, const Res& res) {
    if (guard) guard->request_finished(req.remote_addr, req.remote_port);
    spdlog::info("{} {} {} {}", req.remote_addr, req.method, req.path, res.status);
  });
}

std::string url_host(const std::string& host) {
  return host.find(':') != std::string::npos && host[0] != '[' ? "[" + host + "]" : host;
}

// An address a browser can open: 0.0.0.0 and :: are where the server listens, not places to
// go to, so this machine's host name stands in for them (NAME.local on a LAN with mDNS).
std::string open_url(const std::string& host, int port) {
  std::string h = url_host(host);
  if (host == "0.0.0.0" || host == "::" || host == "[::]") {
    char name[256] = {};
    h = ::gethostname(name, sizeof name - 1) == 0 && name[0] ? name : "THIS-MACHINE";
  }
  return "http://" + h + ":" + std::to_string(port) + "/";
}

// The enrolled names for the event sinks' discovery configs, asked on a sink's thread: it waits
// while the state is being made, and gets an error once the state is gone (or never came).
class PeopleSource {
 public:
  std::vector<std::string> get() {
    std::unique_lock lk(mu_);  // held while reading: the state cannot go meanwhile
    cv_.wait(lk, [&] { return state_ || closed_; });
    if (!state_) throw Error("serve", "stopping");
    std::vector<std::string> names;
    for (const auto& p : state_->open_gallery().people()) names.push_back(p.name);
    return names;
  }
  void set(ServeState* s) {
    std::lock_guard lk(mu_);
    state_ = closed_ ? nullptr : s;
    closed_ = closed_ || !s;
    cv_.notify_all();
  }
  struct Close {
    PeopleSource& p;
    ~Close() { p.set(nullptr); }
  };

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  ServeState* state_ = nullptr;
  bool closed_ = false;
};

}  // namespace

CLI::App* add_serve_command(CLI::App& app, ServeOptions& o) {
  auto* c = app.add_subcommand("serve", "live camera view, REST API and web UI over HTTP");
  c->add_option("--camera", o.camera,
                "frame source: camera index, /dev/videoN, video file, rtsp/http URL or image "
                "folder")
      ->capture_default_str();
  c->add_option("--host", o.host, "address to listen on; other than loopback needs a token")
      ->capture_default_str();
  c->add_option("--port", o.port, "TCP port (0: any free port)")->capture_default_str();
  c->add_option("--width", o.width, "camera frame width")->capture_default_str();
  c->add_option("--height", o.height, "camera frame height")->capture_default_str();
  c->add_option("--fps", o.fps, "camera rate; image folders: playback rate")->capture_default_str();
  c->add_flag("--loop", o.loop, "video files and folders: start again at the end");
  c->add_option("--res", o.resolution,
                "auto: each face recovered from its own size (native mode); 16, 24, 32 (any "
                "4..111): every face shrunk to that size first (simulate mode)")
      ->capture_default_str();
  c->add_option("--upscaler", o.upscaler,
                "low-resolution faces back to 112x112: auto (measured best), dsr, bicubic")
      ->check(CLI::IsMember({"auto", "bicubic", "dsr"}))
      ->capture_default_str();
  c->add_option("--adapter", o.adapter,
                "embed small faces with the adapted EdgeFace (low-resolution student): auto, on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  c->add_option("--threshold", o.threshold,
                "cosine at or below which a face is unknown (default: each face's threshold, "
                "calibrated for its size and recovery)");
  c->add_option("--token-file", o.token_file,
                "access token file (created with a new token when missing); implies "
                "--require-token");
  c->add_flag("--require-token", o.require_token,
              "require the access token even on loopback (default file: " +
                  default_token_path().string() + ")");
  c->add_option("--http-threads", o.http_threads, "HTTP worker threads for API requests")
      ->capture_default_str();
  c->add_option("--max-streams", o.max_streams, "concurrent /api/stream clients")
      ->capture_default_str();
  c->add_option("--header-timeout-ms", o.header_timeout_ms,
                "a connection that has not sent its request head this long after opening is "
                "closed (slow clients must not hold the workers)")
      ->capture_default_str();
  c->add_option("--max-upload-mb", o.max_upload_mb, "largest request body, in MB")
      ->capture_default_str();
  c->add_option("--max-image-side", o.max_image_side, "largest uploaded image side, in pixels")
      ->capture_default_str();
  c->add_option("--stream-quality", o.stream_quality, "JPEG quality of the live stream")
      ->capture_default_str();
  c->add_option("--mqtt", o.mqtt,
                "publish one event per decided face track to this broker, with Home Assistant "
                "discovery: mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (docs/INTEGRATIONS.md)");
  c->add_option("--mqtt-user", o.mqtt_user, "MQTT user name");
  c->add_option("--mqtt-password-file", o.mqtt_password_file,
                "file whose first line is the MQTT password (owner-only, chmod 600)");
  c->add_option("--mqtt-ca-file", o.mqtt_ca_file,
                "mqtts: CA certificate (PEM) of the broker (default: the system's CAs)");
  c->add_option("--camera-name", o.camera_name,
                "this camera's name in topics and events ([A-Za-z0-9_-]; default: host name)");
  c->add_option("--webhook", o.webhook, "POST each event as JSON to this http(s) URL");
  c->add_flag("--event-crops", o.event_crops,
              "add a small JPEG of the face to each event (biometric data: off by default)");
  return c;
}

int run_serve(const GlobalOptions& g, const ServeOptions& o) {
  if (o.port < 0 || o.port > 65535) throw Error("serve", "--port must be in 0..65535");
  if (o.http_threads < 1 || o.http_threads > 64) throw Error("serve", "--http-threads: 1..64");
  if (o.max_streams < 0 || o.max_streams > 64) throw Error("serve", "--max-streams: 0..64");
  if (o.header_timeout_ms < 100 || o.header_timeout_ms > 600'000) {
    throw Error("serve", "--header-timeout-ms: 100..600000");
  }
  if (o.max_upload_mb < 1 || o.max_upload_mb > 256) throw Error("serve", "--max-upload-mb: 1..256");
  if (o.max_image_side < 64) throw Error("serve", "--max-image-side must be at least 64");
  if (o.stream_quality < 10 || o.stream_quality > 100) {
    throw Error("serve", "--stream-quality: 10..100");
  }
  Access access;
  access.loopback = is_loopback_host(o.host);
  access.token_required = !access.loopback || o.require_token || !o.token_file.empty();
  access.max_body = static_cast<std::size_t>(o.max_upload_mb) * 1024 * 1024;
  if (!access.loopback && !o.require_token && o.token_file.empty()) {
    throw Error("serve", "refusing to listen on " + o.host +
                             " without an access token: add --require-token (a token is "
                             "generated and printed once) or --token-file FILE");
  }
  TokenFile token;
  if (access.token_required) {
    token = load_or_create_token(o.token_file.empty() ? default_token_path()
                                                      : std::filesystem::path(o.token_file));
    access.token = token.token;
  }

  // Memory is the budget on a Pi. Few threads allocate at once, so a second malloc arena would
  // only fragment: with one, the EdgeFace that the live engine frees when a request needs the
  // other one (Pipeline's one_embedder) is reused by that load instead of staying in another
  // thread's arena (8 enrolments in a row: RSS 63.8 MB after them with one arena, 66.0 with
  // two). A fixed mmap threshold stops glibc from raising it after the first freed frame, so
  // frame-sized buffers (~1 MB each, several per frame) go back to the system when freed instead
  // of staying in the heap.
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  // Signals are taken by one thread (below), never delivered to the engine's or the pool's.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Events: the sinks start connecting now (a broker that is away only delays events), and the
  // listener is attached to each engine the state makes.
  auto people = std::make_shared<PeopleSource>();
  ServeOptions so = o;
  const auto live_events = events::make_live_events(
      {o.mqtt, o.mqtt_user, o.mqtt_password_file, o.mqtt_ca_file, o.camera_name, o.webhook, 30,
       o.event_crops},
      [people] { return people->get(); });
  if (live_events) {
    so.on_engine = [live_events](live::LiveEngine& e) {
      e.set_frame_listener([live_events](const live::Snapshot& s,
                                         const std::shared_ptr<const Matcher>& m) {
        live_events->on_frame(s, m);
      });
    };
  }
  PeopleSource::Close close_if_unmade{*people};
  ServeState state(g, so);
  people->set(&state);
  PeopleSource::Close close_before_state{*people};
  httplib::Server svr;
  Router router;
  add_live_routes(router, state);
  add_people_routes(router, state);
  add_model_and_asset_routes(router, state);
  // Created once the port is known; the handlers below reach it through this pointer.
  std::unique_ptr<ConnectionGuard> guard;
  router.install(svr, [&guard](const Req& req) {
    if (guard) guard->handler_started(req.remote_addr, req.remote_port);
  });
  configure(svr, o, access, state, guard);

  const int port = o.port == 0 ? svr.bind_to_any_port(o.host) : o.port;
  if (port < 0 || (o.port != 0 && !svr.bind_to_port(o.host, port))) {
    throw Error("serve", "cannot listen on " + o.host + ":" + std::to_string(o.port) +
                             " (address in use or not available)");
  }
  ConnectionGuard::Options go;
  go.workers = o.http_threads + o.max_streams;
  go.header_timeout = std::chrono::milliseconds(o.header_timeout_ms);
  guard = std::make_unique<ConnectionGuard>(port, go);
  state.start();
  const std::string url = "http://" + url_host(o.host) + ":" + std::to_string(port) + "/";
  std::cout << "vlrface serve: listening on " << url << std::endl;
  if (token.generated) {
    std::cout << "vlrface serve: new access token, saved in " << token.path.string()
              << " and shown only now: " << token.token << "\n"
              << "vlrface serve: open " << open_url(o.host, port) << "?token=" << token.token
              << std::endl;
  } else if (access.token_required) {
    std::cout << "vlrface serve: access token required (from " << token.path.string() << ")"
              << std::endl;
  }

  std::atomic<bool> done{false};
  std::thread signal_thread([&] {
    const timespec tick{0, 200'000'000};
    while (!done) {
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig == SIGINT || sig == SIGTERM) {
        spdlog::info("serve: signal {}, stopping", sig);
        state.request_stop();  // stream loops see it and end
        // Repeated: a stop() that lands before listen_after_bind() has started is a no-op.
        while (!done) {
          svr.stop();
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return;
      }
    }
  });
  const bool ok = svr.listen_after_bind();
  done = true;
  signal_thread.join();
  state.stop();
  if (!ok && !state.stopping()) throw Error("serve", "the server stopped unexpectedly");
  return 0;
}

}  // namespace vlrface::cli
