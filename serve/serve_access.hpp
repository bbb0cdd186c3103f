// Who may ask what, and how much: the checks every request of `vlrface serve` meets before its
// body is read (Host and Origin against DNS rebinding and cross-site requests, chunked bodies,
// the body limit, the access token), and the httplib::Server settings around them.
//
// Usage:
//   const Access access = make_access(options);           // Error("serve") for a bad setup
//   Router router;  add_routes(router, state);
//   configure_server(svr, router, options, access, state.requests, guard);
//   // or one request, without a server:
//   if (check_request(req, res, access) == HandlerResponse::Handled) -> refused, res says why
// Thread safety: check_request is a pure function of its arguments (it writes only `res`).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "serve.hpp"
#include "serve_auth.hpp"
#include "serve_guard.hpp"
#include "serve_http.hpp"

namespace vlrface::serve {

// The cookie that holds the token after /?token=... (HttpOnly, SameSite=Strict).
inline constexpr const char* kTokenCookie = "vlrface_token";

struct Access {
  bool loopback = true;  // bound to a loopback address: Host headers must say so too
  bool token_required = false;
  std::string token;
  std::size_t max_body = 0;
  TokenFile token_file;  // where the token came from (empty path: none required)
};

// From the options: a token is required off loopback (refused without --require-token or
// --token-file), or when asked for; it is read from its file or created there.
Access make_access(const ServeOptions& o);

// The host of a Host header: "[::1]:8080" -> "[::1]", "127.0.0.1:80" -> "127.0.0.1".
std::string host_part(const std::string& host_header);

using HandlerResponse = httplib::Server::HandlerResponse;

// Runs before the body is read, so a refusal costs no upload. Handled: refused (403 Host or
// Origin, 411 Transfer-Encoding, 413 body, 401 token) or redirected (303: to /login, or out of
// a ?token= address once the cookie is set); the connection is then closed, since the body may
// be unread. Unhandled: on to the handler.
HandlerResponse check_request(const Req& req, Res& res, const Access& access);

// The server's pool, limits, timeouts, security headers, check_request (counting requests) and
// the guard's callbacks, and `router`'s routes. `guard` may be set (or stay null) later: the
// callbacks look at it on each request. `router`, `access`, `requests` and `guard` must outlive
// `svr`.
void configure_server(httplib::Server& svr, const Router& router, const ServeOptions& o,
                      const Access& access, std::atomic<std::uint64_t>& requests,
                      const std::unique_ptr<ConnectionGuard>& guard);

}  // namespace vlrface::serve
