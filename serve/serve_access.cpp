#include "serve_access.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cstdlib>

#include "vlrface/error.hpp"

namespace vlrface::serve {
namespace {

HandlerResponse reject(Res& res, int status, const std::string& message) {
  // The request body may still be unread: close rather than parse it as the next request.
  res.set_header("Connection", "close");
  send_error(res, status, message);
  return HandlerResponse::Handled;
}

}  // namespace

Access make_access(const ServeOptions& o) {
  Access access;
  access.loopback = is_loopback_host(o.host);
  access.token_required = !access.loopback || o.require_token || !o.token_file.empty();
  access.max_body = static_cast<std::size_t>(o.max_upload_mb) * 1024 * 1024;
  if (!access.loopback && !o.require_token && o.token_file.empty()) {
    throw Error("serve", "refusing to listen on " + o.host +
                             " without an access token: add --require-token (a token is "
                             "generated and printed once) or --token-file FILE");
  }
  if (access.token_required) {
    access.token_file = load_or_create_token(
        o.token_file.empty() ? default_token_path() : std::filesystem::path(o.token_file));
    access.token = access.token_file.token;
  }
  return access;
}

std::string host_part(const std::string& host_header) {
  if (!host_header.empty() && host_header[0] == '[') {
    return host_header.substr(0, host_header.find(']') + 1);
  }
  return host_header.substr(0, host_header.find(':'));
}

HandlerResponse check_request(const Req& req, Res& res, const Access& access) {
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
  // Two lengths that disagree: httplib reads the first, the limit below checks it, but a proxy
  // in front may frame by the other (request smuggling); RFC 9112 6.3 says refuse.
  for (std::size_t i = 1; i < req.get_header_value_count("Content-Length"); ++i) {
    if (req.get_header_value("Content-Length", i) != req.get_header_value("Content-Length")) {
      return reject(res, 400, "conflicting Content-Length headers");
    }
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
    return HandlerResponse::Unhandled;
  }

  const std::string auth = req.get_header_value("Authorization");
  const bool by_header =
      auth.rfind("Bearer ", 0) == 0 && tokens_equal(auth.substr(7), access.token);
  const bool by_cookie =
      tokens_equal(cookie_value(req.get_header_value("Cookie"), kTokenCookie), access.token);
  const bool by_query =
      req.has_param("token") && tokens_equal(req.get_param_value("token"), access.token);
  if (by_query) {
    res.set_header("Set-Cookie", std::string(kTokenCookie) + "=" + access.token +
                                     "; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000");
    if (req.method == "GET" && req.path.rfind("/api/", 0) != 0) {
      // Take the token out of the address bar (and history) once the cookie holds it.
      res.set_redirect(req.path, 303);
      return HandlerResponse::Handled;
    }
  }
  if (by_header || by_cookie || by_query) return HandlerResponse::Unhandled;
  if (req.method == "GET" && (req.path == "/" || req.path == "/index.html")) {
    res.set_redirect("/login", 303);
    return HandlerResponse::Handled;
  }
  res.set_header("WWW-Authenticate", "Bearer realm=\"vlrface\"");
  return reject(res, 401,
                "an access token is required: send 'Authorization: Bearer <token>' or open "
                "/?token=<token> once");
}

// httplib's pool, telling the guard of each accepted connection (httplib enqueues one task per
// accepted socket, from its accept loop) so that a client sending header lines at full speed
// is watched from its first byte, not from the guard's next tick.
class GuardedPool final : public httplib::TaskQueue {
 public:
  GuardedPool(std::size_t threads, const std::unique_ptr<ConnectionGuard>& guard)
      : pool_(threads), guard_(guard) {}
  void enqueue(std::function<void()> fn) override {
    if (guard_) guard_->connection_accepted();
    pool_.enqueue(std::move(fn));
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
  const std::unique_ptr<ConnectionGuard>& guard_;
};

void configure_server(httplib::Server& svr, const Router& router, const ServeOptions& o,
                      const Access& access, std::atomic<std::uint64_t>& requests,
                      const std::unique_ptr<ConnectionGuard>& guard) {
  router.install(svr, [&guard](const Req& req) {
    if (guard) guard->handler_started(req.remote_addr, req.remote_port);
  });
  const std::size_t pool = static_cast<std::size_t>(o.http_threads + o.max_streams);
  svr.new_task_queue = [pool, &guard] { return new GuardedPool(pool, guard); };
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
  svr.set_pre_routing_handler([&access, &requests, &guard](const Req& req, Res& res) {
    ++requests;
    if (guard) guard->request_started(req.remote_addr, req.remote_port);
    return check_request(req, res, access);
  });
  svr.set_post_routing_handler([](const Req&, Res& res) {
    if (!res.has_header("Cache-Control")) res.set_header("Cache-Control", "no-store");
  });
  // httplib's own refusals (malformed request line, body over the limit) get a JSON body too.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([](const Req&, Res& res) {
    if (!res.body.empty()) return HandlerResponse::Unhandled;
    send_error(res, res.status, status_text(res.status));
    return HandlerResponse::Handled;
  }));
  svr.set_exception_handler(
      [](const Req&, Res& res, std::exception_ptr) { send_error(res, 500, "internal error"); });
  svr.set_logger([&guard](const Req& req, const Res& res) {
    if (guard) guard->request_finished(req.remote_addr, req.remote_port);
    spdlog::info("{} {} {} {}", req.remote_addr, req.method, req.path, res.status);
  });
}

}  // namespace vlrface::serve
