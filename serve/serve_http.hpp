// HTTP plumbing of `vlrface serve`: routing with 404/405, JSON errors, request bodies, uploads.
//
// Usage:
//   Router r;
//   r.add("GET", R"(/api/people/([^/]+))", [](const Req& req, Res& res, const Params& p) {...});
//   r.install(server);                      // every method goes through r.dispatch
//   throw HttpError(409, "name taken");     // inside a handler: becomes {"error": "..."} + 409
// Handlers throw; dispatch() is the one place that turns exceptions into JSON errors, so no
// request can take the server down.
// Thread safety: a Router is filled before the server starts and read-only afterwards.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

namespace vlrface::serve {

using nlohmann::json;
using Req = httplib::Request;
using Res = httplib::Response;
using Params = std::vector<std::string>;  // the pattern's capture groups

class HttpError : public std::runtime_error {
 public:
  HttpError(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

void send_json(Res& res, const json& body, int status = 200);
// Numbers as JSON shows them: floats widened to double print as 0.30000001192092896.
inline double round_to(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}
inline double sim4(double x) {
  return round_to(x, 4);
}
json box_json(const cv::Rect2f& box);
// "2026-11-28T14:03:05Z": when something happened, for a monitor or a person in another zone.
std::string utc_iso8601(std::chrono::system_clock::time_point t);
void send_error(Res& res, int status, const std::string& message);
// Reason phrase for the statuses this server uses.
const char* status_text(int status);

class Router {
 public:
  using Handler = std::function<void(const Req&, Res&, const Params&)>;
  // `pattern` is an ECMAScript regex matched against the whole (decoded) path.
  void add(const std::string& method, const std::string& pattern, Handler handler);
  void dispatch(const Req& req, Res& res) const;
  // `on_handle` (if set) is called on every request before its handler.
  void install(httplib::Server& server, std::function<void(const Req&)> on_handle = {}) const;

 private:
  struct Route {
    std::string method;
    std::regex pattern;
    Handler handler;
  };
  std::vector<Route> routes_;
};

// The body as a JSON object: 415 unless the content type is JSON, 400 when malformed.
json json_body(const Req& req);

struct Upload {
  std::string filename;  // as sent, for messages
  const std::string* bytes = nullptr;
};

// Image uploads: every multipart part that carries a file, or a raw body sent as image/* or
// application/octet-stream. 400 when there is none.
std::vector<Upload> uploads(const Req& req);

struct ImageLimits {
  int max_side = 4096;
  // What one upload may decode to (width x height x channels x bytes per channel), checked from
  // its header: 4096x4096 8-bit RGB (48 MiB) passes, the same in 16-bit RGBA (128 MiB) does not.
  std::size_t max_decoded_bytes = std::size_t{64} << 20;
};

// Decodes an upload to 8-bit BGR: 413 when it is larger than the limits (checked from the header
// before decoding and again after), 415 when it is not an image. `shrink_to` > 0: a larger image
// comes back shrunk to that longer side while decoding (decode_image), `scale` the factor.
cv::Mat decode_upload(const Upload& upload, const ImageLimits& limits, int shrink_to = 0,
                      double* scale = nullptr);

// Seconds on a monotonic clock.
double now_seconds();

// Percent-encodes a path segment (names in URLs).
std::string url_segment(const std::string& s);

// An integer query parameter within [lo, hi], `fallback` when absent; 400 otherwise.
int int_param(const Req& req, const std::string& key, int fallback, int lo, int hi);

}  // namespace vlrface::serve
