#include "serve_http.hpp"

#include <spdlog/spdlog.h>
#include <stb/stb_image.h>

#include <ctime>
#include <limits>
#include <set>

#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface::serve {

const char* status_text(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 303:
      return "See Other";
    case 400:
      return "bad request";
    case 401:
      return "an access token is required";
    case 403:
      return "forbidden";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 409:
      return "conflict";
    case 413:
      return "request too large";
    case 415:
      return "unsupported media type";
    case 422:
      return "no usable face";
    case 503:
      return "service unavailable";
    default:
      return status >= 500 ? "internal error" : "error";
  }
}

void send_json(Res& res, const json& body, int status) {
  res.status = status;
  // Replace invalid UTF-8 (a name read from an old gallery) instead of throwing mid-response.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

json box_json(const cv::Rect2f& b) {
  return {{"x", round_to(b.x, 1)},
          {"y", round_to(b.y, 1)},
          {"width", round_to(b.width, 1)},
          {"height", round_to(b.height, 1)}};
}

std::string utc_iso8601(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void send_error(Res& res, int status, const std::string& message) {
  send_json(res, json{{"error", message}}, status);
}

void Router::add(const std::string& method, const std::string& pattern, Handler handler) {
  routes_.push_back({method, std::regex(pattern), std::move(handler)});
}

void Router::dispatch(const Req& req, Res& res) const {
  // HEAD is GET without a body (httplib drops the body).
  const std::string method = req.method == "HEAD" ? "GET" : req.method;
  std::set<std::string> allowed;
  for (const Route& r : routes_) {
    std::smatch m;
    if (!std::regex_match(req.path, m, r.pattern)) continue;
    if (r.method != method) {
      allowed.insert(r.method);
      continue;
    }
    Params params;
    for (std::size_t i = 1; i < m.size(); ++i) params.push_back(m[i].str());
    try {
      r.handler(req, res, params);
    } catch (const HttpError& e) {
      send_error(res, e.status(), e.what());
    } catch (const json::exception& e) {
      send_error(res, 400, std::string("malformed JSON: ") + e.what());
    } catch (const Error& e) {
      spdlog::warn("{} {}: {}", req.method, req.path, e.what());
      send_error(res, 500, e.what());
    } catch (const std::bad_alloc&) {
      send_error(res, 503, "out of memory");
    } catch (const std::exception& e) {
      spdlog::warn("{} {}: {}", req.method, req.path, e.what());
      send_error(res, 500, std::string("internal error: ") + e.what());
    }
    return;
  }
  if (allowed.empty()) {
    send_error(res, 404, "no such resource: " + req.path);
    return;
  }
  std::string allow;
  for (const auto& a : allowed) allow += (allow.empty() ? "" : ", ") + a;
  if (allowed.count("GET")) allow += ", HEAD";
  res.set_header("Allow", allow);
  send_error(res, 405, req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")");
}

void Router::install(httplib::Server& server, std::function<void(const Req&)> on_handle) const {
  const auto h = [this, on_handle](const Req& req, Res& res) {
    if (on_handle) on_handle(req);
    dispatch(req, res);
  };
  // Every method reaches dispatch so that an unknown path is 404 and a known one 405.
  server.Get(".*", h);
  server.Post(".*", h);
  server.Put(".*", h);
  server.Patch(".*", h);
  server.Delete(".*", h);
  server.Options(".*", h);
}

json json_body(const Req& req) {
  const std::string type = req.get_header_value("Content-Type");
  if (type.find("application/json") == std::string::npos) {
    throw HttpError(415,
                    "expected a JSON body (Content-Type: application/json), got '" + type + "'");
  }
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw HttpError(400, "malformed JSON body");
  if (!body.is_object()) throw HttpError(400, "the JSON body must be an object");
  return body;
}

std::vector<Upload> uploads(const Req& req) {
  std::vector<Upload> out;
  if (req.is_multipart_form_data()) {
    for (const auto& [field, part] : req.files) {
      if (part.filename.empty() && field != "image" && field != "images") continue;
      out.push_back({part.filename.empty() ? field : part.filename, &part.content});
    }
  } else {
    const std::string type = req.get_header_value("Content-Type");
    if (type.rfind("image/", 0) == 0 || type.rfind("application/octet-stream", 0) == 0) {
      out.push_back({"upload", &req.body});
    }
  }
  if (out.empty()) {
    throw HttpError(400,
                    "no image: send multipart/form-data with one or more files, or the image "
                    "bytes as the body with Content-Type image/*");
  }
  return out;
}

cv::Mat decode_upload(const Upload& up, const ImageLimits& limits, int shrink_to, double* scale) {
  const std::string& b = *up.bytes;
  if (scale) *scale = 1;
  if (b.empty()) throw HttpError(415, up.filename + ": empty file");
  const auto too_big = [&](int w, int h) {
    return HttpError(413, up.filename + ": " + std::to_string(w) + "x" + std::to_string(h) +
                              " pixels is larger than the limit of " +
                              std::to_string(limits.max_side) + "x" +
                              std::to_string(limits.max_side));
  };
  // The header tells the size before a single pixel is allocated.
  int w = 0, h = 0, n = 0;
  if (b.size() < static_cast<std::size_t>(std::numeric_limits<int>::max()) &&
      stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(b.data()), static_cast<int>(b.size()),
                            &w, &h, &n) &&
      (w > limits.max_side || h > limits.max_side)) {
    throw too_big(w, h);
  }
  cv::Mat img;
  double f = 1;
  try {
    // Straight from the request's buffer: no copy of the (up to --max-upload-mb) bytes.
    DecodeLimits dl;
    dl.max_bytes = limits.max_decoded_bytes;
    img = decode_image(reinterpret_cast<const std::uint8_t*>(b.data()), b.size(), up.filename,
                       shrink_to, &f, dl);
  } catch (const Error& e) {
    throw HttpError(e.stage() == "image-limit" ? 413 : 415, e.what());
  }
  if (f == 1 && (img.cols > limits.max_side || img.rows > limits.max_side)) {
    throw too_big(img.cols, img.rows);
  }
  if (scale) *scale = f;
  return img;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string url_segment(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

int int_param(const Req& req, const std::string& key, int fallback, int lo, int hi) {
  if (!req.has_param(key)) return fallback;
  const std::string v = req.get_param_value(key);
  try {
    std::size_t used = 0;
    const int x = std::stoi(v, &used);
    if (used == v.size() && x >= lo && x <= hi) return x;
  } catch (const std::exception&) {
  }
  throw HttpError(400, "query parameter '" + key + "' must be an integer in " + std::to_string(lo) +
                           ".." + std::to_string(hi) + ", not '" + v + "'");
}

}  // namespace vlrface::serve
