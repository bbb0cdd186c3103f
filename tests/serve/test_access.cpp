// The checks every request meets before its handler (serve_access.hpp, serve_auth.hpp), called
// directly on httplib requests: no server, no socket, no models.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "gallery_test_util.hpp"
#include "serve_access.hpp"
#include "serve_auth.hpp"
#include "vlrface/error.hpp"

namespace vlrface::serve {
namespace {

using gallery_test::TempDir;
constexpr const char* kToken = "0123456789abcdef0123456789abcdef";

Req request(const std::string& method, const std::string& path, httplib::Headers headers = {}) {
  Req r;
  r.method = method;
  r.path = path;
  r.headers = std::move(headers);
  return r;
}

Access loopback_access(bool token_required = false) {
  Access a;
  a.loopback = true;
  a.token_required = token_required;
  a.token = token_required ? kToken : "";
  a.max_body = 8u << 20;
  return a;
}

// The status of a refused request, or 0 when it goes on to its handler.
int verdict(const Req& req, const Access& access, Res* out = nullptr) {
  Res res;
  const HandlerResponse h = check_request(req, res, access);
  if (out) *out = res;
  return h == HandlerResponse::Handled ? res.status : 0;
}

TEST(ServeLoopback, WholeAddressesOnly) {
  for (const char* host :
       {"127.0.0.1", "127.1.2.3", "127.255.255.254", "localhost", "LocalHost", "::1", "[::1]"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  // DNS rebinding: names that begin like a loopback address are names, resolved elsewhere.
  for (const char* host :
       {"127.0.0.1.evil.example", "127.evil.example", "127.0.0.1x", "127.", "128.0.0.1", "0.0.0.0",
        "10.0.0.1", "::", "localhost.evil.example", "evil.example", ""}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
}

TEST(ServeLoopback, HostPartDropsThePort) {
  EXPECT_EQ(host_part("127.0.0.1:8080"), "127.0.0.1");
  EXPECT_EQ(host_part("[::1]:8080"), "[::1]");
  EXPECT_EQ(host_part("localhost"), "localhost");
  EXPECT_EQ(host_part("127.0.0.1.evil.example:80"), "127.0.0.1.evil.example");
}

TEST(ServeAccessCheck, RebindingHostIsRefusedOnLoopback) {
  const Access a = loopback_access();
  for (const char* host : {"127.0.0.1.evil.example:8080", "127.evil.example", "evil.example:8080",
                           "localhost.evil.example"}) {
    Res res;
    EXPECT_EQ(verdict(request("GET", "/api/people", {{"Host", host}}), a, &res), 403) << host;
    EXPECT_NE(res.body.find("unexpected Host header"), std::string::npos) << res.body;
    EXPECT_EQ(res.get_header_value("Connection"), "close");
  }
  for (const char* host : {"127.0.0.1:8080", "localhost:8080", "[::1]:8080", "127.0.0.2"}) {
    EXPECT_EQ(verdict(request("GET", "/api/people", {{"Host", host}}), a), 0) << host;
  }
  // HTTP/1.0 without a Host header names no other site.
  EXPECT_EQ(verdict(request("GET", "/api/people"), a), 0);
}

TEST(ServeAccessCheck, AnyHostOffLoopbackButTheTokenStillCounts) {
  Access a = loopback_access(true);
  a.loopback = false;  // --host 0.0.0.0: names are expected; the token is what protects
  EXPECT_EQ(verdict(request("GET", "/api/people",
                            {{"Host", "camera.example:8080"},
                             {"Authorization", std::string("Bearer ") + kToken}}),
                    a),
            0);
  EXPECT_EQ(verdict(request("GET", "/api/people", {{"Host", "camera.example:8080"}}), a), 401);
}

TEST(ServeAccessCheck, CrossOriginChangesAreRefused) {
  const Access a = loopback_access();
  const httplib::Headers evil = {{"Host", "127.0.0.1:8080"}, {"Origin", "http://evil.example"}};
  for (const char* method : {"POST", "PUT", "PATCH", "DELETE"}) {
    Res res;
    EXPECT_EQ(verdict(request(method, "/api/people/ana", evil), a, &res), 403) << method;
    EXPECT_NE(res.body.find("cross-origin"), std::string::npos);
  }
  // The page's own origin, and requests without one (curl), go through.
  EXPECT_EQ(verdict(request("DELETE", "/api/people/ana",
                            {{"Host", "127.0.0.1:8080"}, {"Origin", "http://127.0.0.1:8080"}}),
                    a),
            0);
  EXPECT_EQ(verdict(request("DELETE", "/api/people/ana", {{"Host", "127.0.0.1:8080"}}), a), 0);
  // An Origin naming the right host by another scheme or port is another origin.
  EXPECT_EQ(verdict(request("POST", "/api/people",
                            {{"Host", "127.0.0.1:8080"}, {"Origin", "http://127.0.0.1:9090"}}),
                    a),
            403);
  // Reading is not changing: a cross-origin GET is left to the browser's same-origin policy.
  EXPECT_EQ(verdict(request("GET", "/api/people", evil), a), 0);
}

TEST(ServeAccessCheck, AnyTransferEncodingIsRefusedBeforeTheBody) {
  const Access a = loopback_access();
  for (const char* te : {"chunked", "Chunked", "CHUNKED", "gzip, chunked", "identity"}) {
    Res res;
    EXPECT_EQ(verdict(request("POST", "/api/identify",
                              {{"Host", "127.0.0.1:8080"}, {"Transfer-Encoding", te}}),
                      a, &res),
              411)
        << te;
    EXPECT_EQ(res.get_header_value("Connection"), "close");
  }
  // httplib matches header names without regard to case; so must the refusal.
  EXPECT_EQ(verdict(request("POST", "/api/identify",
                            {{"Host", "127.0.0.1:8080"}, {"transfer-encoding", "chunked"}}),
                    a),
            411);
}

// httplib inflates gzip/deflate/br bodies with no limit (a 300 KB gzip body took the server
// from 38 to 559 MB): a compressed body is refused before it is read, and so are two
// Content-Length headers that disagree (a proxy could frame by the other: request smuggling).
TEST(ServeAccessCheck, CompressedBodiesAndConflictingLengthsAreRefused) {
  const Access a = loopback_access();
  for (const char* ce : {"gzip", "deflate", "br", "GZIP", "identity"}) {
    Res res;
    EXPECT_EQ(verdict(request("POST", "/api/identify",
                              {{"Host", "127.0.0.1:8080"}, {"Content-Encoding", ce}}),
                      a, &res),
              415)
        << ce;
    EXPECT_EQ(res.get_header_value("Connection"), "close");
  }
  EXPECT_EQ(verdict(request("POST", "/api/identify",
                            {{"Host", "127.0.0.1:8080"},
                             {"Content-Length", "10"},
                             {"Content-Length", "5000"}}),
                    a),
            400);
  EXPECT_EQ(verdict(request("POST", "/api/identify",
                            {{"Host", "127.0.0.1:8080"},
                             {"Content-Length", "10"},
                             {"Content-Length", "10"}}),
                    a),
            0)
      << "the same length twice frames the body the same way";
}

TEST(ServeAccessCheck, BodyLimitFromContentLength) {
  const Access a = loopback_access();  // 8 MB
  const auto post = [&](const std::string& length) {
    return verdict(
        request("POST", "/api/identify", {{"Host", "127.0.0.1:8080"}, {"Content-Length", length}}),
        a);
  };
  EXPECT_EQ(post(std::to_string(8u << 20)), 0);
  EXPECT_EQ(post(std::to_string((8u << 20) + 1)), 413);
  EXPECT_EQ(post("300000000"), 413);
  EXPECT_EQ(post("99999999999999999999999"), 413);  // saturates, never wraps to small
}

TEST(ServeToken, RequestsWithoutTheTokenAreRefused) {
  const Access a = loopback_access(true);
  const httplib::Headers host = {{"Host", "127.0.0.1:8080"}};
  Res res;
  EXPECT_EQ(verdict(request("GET", "/api/people", host), a, &res), 401);
  EXPECT_EQ(res.get_header_value("WWW-Authenticate"), "Bearer realm=\"vlrface\"");
  // A browser opening the page is sent to the login form instead.
  EXPECT_EQ(verdict(request("GET", "/", host), a, &res), 303);
  EXPECT_EQ(res.get_header_value("Location"), "/login");
  // The login form and what it shows are public.
  for (const char* p : {"/login", "/login.css", "/favicon.svg"}) {
    EXPECT_EQ(verdict(request("GET", p, host), a), 0) << p;
  }
  // Anything else is not: the page's script holds the API's addresses.
  EXPECT_EQ(verdict(request("GET", "/app.js", host), a), 401);
  // A token of the right length but wrong content, or a prefix of it, is refused.
  std::string wrong = kToken;
  wrong.back() = 'X';
  for (const std::string& t : {wrong, std::string(kToken).substr(0, 16), std::string()}) {
    httplib::Headers h = host;
    h.emplace("Authorization", "Bearer " + t);
    EXPECT_EQ(verdict(request("GET", "/api/people", h), a), 401) << t;
  }
}

TEST(ServeToken, HeaderCookieOrQueryAdmits) {
  const Access a = loopback_access(true);
  EXPECT_EQ(verdict(request("GET", "/api/people",
                            {{"Host", "127.0.0.1:8080"},
                             {"Authorization", std::string("Bearer ") + kToken}}),
                    a),
            0);
  EXPECT_EQ(verdict(request("DELETE", "/api/people/ana",
                            {{"Host", "127.0.0.1:8080"},
                             {"Cookie", std::string("theme=dark; vlrface_token=") + kToken}}),
                    a),
            0);
  // ?token= sets the cookie (HttpOnly, SameSite=Strict: no other site's request carries it) and,
  // for a page, takes the token out of the address bar.
  Req page = request("GET", "/", {{"Host", "127.0.0.1:8080"}});
  page.params.emplace("token", kToken);
  Res res;
  EXPECT_EQ(verdict(page, a, &res), 303);
  EXPECT_EQ(res.get_header_value("Location"), "/");
  const std::string cookie = res.get_header_value("Set-Cookie");
  EXPECT_EQ(cookie.rfind(std::string("vlrface_token=") + kToken + ";", 0), 0u) << cookie;
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  Req api = request("GET", "/api/people", {{"Host", "127.0.0.1:8080"}});
  api.params.emplace("token", kToken);
  EXPECT_EQ(verdict(api, a), 0);
}

TEST(ServeToken, CookieValueAndComparison) {
  EXPECT_EQ(cookie_value("a=1; vlrface_token=xyz; b=2", "vlrface_token"), "xyz");
  EXPECT_EQ(cookie_value("xvlrface_token=xyz", "vlrface_token"), "");
  EXPECT_EQ(cookie_value("", "vlrface_token"), "");
  EXPECT_TRUE(tokens_equal("abc", "abc"));
  EXPECT_FALSE(tokens_equal("abc", "abd"));
  EXPECT_FALSE(tokens_equal("abc", "abcd"));
}

TEST(ServeAccessSetup, OffLoopbackNeedsAToken) {
  for (const char* host : {"0.0.0.0", "192.168.1.10", "127.x.evil.example", "127.0.0.1.evil"}) {
    ServeOptions o;
    o.host = host;
    EXPECT_THROW(make_access(o), Error) << host;
  }
  ServeOptions o;
  EXPECT_FALSE(make_access(o).token_required);  // loopback: none by default
}

TEST(ServeAccessSetup, TokenFileIsCreatedOwnerOnlyAndReadBack) {
  TempDir dir;
  ServeOptions o;
  o.host = "0.0.0.0";
  o.token_file = (dir / "sub" / "token").string();
  const Access first = make_access(o);
  EXPECT_TRUE(first.token_required);
  EXPECT_TRUE(first.token_file.generated);
  EXPECT_EQ(first.token.size(), 64u);
  EXPECT_EQ(gallery_test::mode_of(o.token_file) & 0777, 0600u);
  const Access again = make_access(o);
  EXPECT_FALSE(again.token_file.generated);
  EXPECT_EQ(again.token, first.token);
  // A token file others can read is refused, as ssh refuses such keys.
  ::chmod(o.token_file.c_str(), 0644);
  try {
    make_access(o);
    FAIL() << "a world-readable token file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
}

TEST(ServeAccessSetup, OptionRanges) {
  const auto refused = [](auto&& change) {
    ServeOptions o;
    change(o);
    try {
      check_options(o);
    } catch (const Error&) {
      return true;
    }
    return false;
  };
  EXPECT_FALSE(refused([](ServeOptions&) {}));
  EXPECT_TRUE(refused([](ServeOptions& o) { o.port = 65536; }));
  EXPECT_TRUE(refused([](ServeOptions& o) { o.http_threads = 0; }));
  EXPECT_TRUE(refused([](ServeOptions& o) { o.max_upload_mb = 257; }));
  EXPECT_TRUE(refused([](ServeOptions& o) { o.header_timeout_ms = 99; }));
  EXPECT_TRUE(refused([](ServeOptions& o) { o.max_image_side = 63; }));
  EXPECT_TRUE(refused([](ServeOptions& o) { o.stream_quality = 101; }));
}

}  // namespace
}  // namespace vlrface::serve
