// The HTTP plumbing of the server library (serve_http.hpp): upload limits on decoded pixels and
// bytes, request bodies, query parameters and the router's statuses. No server, no models.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "serve_http.hpp"
#include "vlrface/error.hpp"

namespace vlrface::serve {
namespace {

std::string encoded(const cv::Mat& image, const std::string& ext) {
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(ext, image, buf));
  return std::string(buf.begin(), buf.end());
}

// The status decode_upload answers with, 200 when it decodes.
int decode_status(const std::string& bytes, const ImageLimits& limits,
                  std::string* message = nullptr, cv::Mat* out = nullptr) {
  const Upload up{"face.png", &bytes};
  try {
    cv::Mat m = decode_upload(up, limits);
    if (out) *out = m;
    return 200;
  } catch (const HttpError& e) {
    if (message) *message = e.what();
    return e.status();
  }
}

TEST(ServeUploadLimits, DecodedBytesCountBytesPerPixel) {
  // The same 600x600 picture: 8-bit RGB is 1.08 MB decoded, 16-bit RGBA 2.88 MB. Both files are
  // small (flat content compresses), so only a limit on what they decode to tells them apart.
  ImageLimits limits;
  limits.max_side = 4096;
  limits.max_decoded_bytes = 2 << 20;
  const std::string rgb8 = encoded(cv::Mat(600, 600, CV_8UC3, cv::Scalar(40, 80, 120)), ".png");
  const std::string rgba16 =
      encoded(cv::Mat(600, 600, CV_16UC4, cv::Scalar(4000, 8000, 12000, 65535)), ".png");
  ASSERT_LT(rgba16.size(), 64u << 10);  // a bomb: tiny file, large image
  cv::Mat decoded;
  EXPECT_EQ(decode_status(rgb8, limits, nullptr, &decoded), 200);
  EXPECT_EQ(decoded.type(), CV_8UC3);
  EXPECT_EQ(decoded.size(), cv::Size(600, 600));
  std::string why;
  EXPECT_EQ(decode_status(rgba16, limits, &why), 413);
  EXPECT_NE(why.find("face.png"), std::string::npos) << why;
  // Within the limit, a 16-bit image is accepted and comes back as 8-bit BGR.
  limits.max_decoded_bytes = 4 << 20;
  EXPECT_EQ(decode_status(rgba16, limits, nullptr, &decoded), 200);
  EXPECT_EQ(decoded.type(), CV_8UC3);
}

TEST(ServeUploadLimits, SideLimitFromTheHeader) {
  ImageLimits limits;
  limits.max_side = 512;
  const std::string wide = encoded(cv::Mat(8, 600, CV_8UC1, cv::Scalar(0)), ".png");
  std::string why;
  EXPECT_EQ(decode_status(wide, limits, &why), 413);
  EXPECT_NE(why.find("600x8"), std::string::npos) << why;
  EXPECT_NE(why.find("512x512"), std::string::npos) << why;
  EXPECT_EQ(decode_status(encoded(cv::Mat(8, 512, CV_8UC1, cv::Scalar(0)), ".png"), limits), 200);
}

TEST(ServeUploadLimits, NotAnImageIs415) {
  const ImageLimits limits;
  std::string why;
  EXPECT_EQ(decode_status("", limits, &why), 415);
  EXPECT_NE(why.find("empty"), std::string::npos) << why;
  EXPECT_EQ(decode_status(std::string(1000, 'x'), limits), 415);
  // A PNG cut short after its header is refused as an image, not half decoded.
  std::string png = encoded(cv::Mat(64, 64, CV_8UC3, cv::Scalar(1, 2, 3)), ".png");
  png.resize(60);
  EXPECT_EQ(decode_status(png, limits), 415);
}

TEST(ServeRequestBodies, UploadsNeedAnImage) {
  Req raw;
  raw.body = "bytes";
  raw.headers.emplace("Content-Type", "image/jpeg");
  ASSERT_EQ(uploads(raw).size(), 1u);
  EXPECT_EQ(uploads(raw)[0].bytes, &raw.body);
  Req text;
  text.body = "bytes";
  text.headers.emplace("Content-Type", "text/plain");
  try {
    uploads(text);
    FAIL() << "a text body passed as an image";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 400);
  }
}

TEST(ServeRequestBodies, JsonBodyChecksTypeSyntaxAndShape) {
  const auto status_of = [](const std::string& type, const std::string& body) {
    Req r;
    r.headers.emplace("Content-Type", type);
    r.body = body;
    try {
      json_body(r);
      return 200;
    } catch (const HttpError& e) {
      return e.status();
    }
  };
  EXPECT_EQ(status_of("application/json", R"({"name": "ana"})"), 200);
  EXPECT_EQ(status_of("text/plain", R"({"name": "ana"})"), 415);
  EXPECT_EQ(status_of("application/json", R"({"name": )"), 400);
  EXPECT_EQ(status_of("application/json", R"(["ana"])"), 400);
}

TEST(ServeRequestBodies, IntParamBounds) {
  Req r;
  EXPECT_EQ(int_param(r, "top", 5, 1, 50), 5);
  r.params.emplace("top", "7");
  EXPECT_EQ(int_param(r, "top", 5, 1, 50), 7);
  for (const char* bad : {"0", "51", "7x", "", "99999999999999999999"}) {
    Req b;
    b.params.emplace("top", bad);
    EXPECT_THROW(int_param(b, "top", 5, 1, 50), HttpError) << bad;
  }
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    router_.add("GET", "/api/things/([a-z]+)", [](const Req&, Res& res, const Params& p) {
      if (p[0] == "busy") throw HttpError(409, "busy");
      if (p[0] == "json") send_json(res, json::parse("{"));
      if (p[0] == "core") throw Error("gallery", "disk on fire");
      if (p[0] == "std") throw std::runtime_error("oops");
      send_json(res, {{"thing", p[0]}});
    });
    router_.add("DELETE", "/api/things/([a-z]+)", [](const Req&, Res& res, const Params&) {
      send_json(res, {{"gone", true}});
    });
  }
  Res call(const std::string& method, const std::string& path) {
    Req req;
    req.method = method;
    req.path = path;
    Res res;
    router_.dispatch(req, res);
    return res;
  }
  Router router_;
};

TEST_F(RouterTest, StatusesAndErrors) {
  Res ok = call("GET", "/api/things/cup");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(json::parse(ok.body)["thing"], "cup");
  EXPECT_EQ(call("HEAD", "/api/things/cup").status, 200);  // HEAD is GET without the body
  EXPECT_EQ(call("GET", "/api/things/busy").status, 409);
  EXPECT_EQ(call("GET", "/api/things/json").status, 400);
  EXPECT_EQ(call("GET", "/api/things/core").status, 500);
  Res std_error = call("GET", "/api/things/std");
  EXPECT_EQ(std_error.status, 500);
  EXPECT_NE(json::parse(std_error.body)["error"].get<std::string>().find("oops"),
            std::string::npos);
  // The pattern must match the whole path.
  EXPECT_EQ(call("GET", "/api/things/cup/more").status, 404);
  EXPECT_EQ(call("GET", "/api/things/CUP").status, 404);
  Res wrong = call("PUT", "/api/things/cup");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.get_header_value("Allow"), "DELETE, GET, HEAD");
}

}  // namespace
}  // namespace vlrface::serve
