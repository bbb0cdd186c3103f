// `vlrface serve` end to end over HTTP: people and their faces, enrolment captures from the
// camera, identification of uploads, model switching, and changes made by the CLI reaching the
// running server. The fixture: serve_api_fixture.hpp.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "serve_api_fixture.hpp"

using namespace serve_api_test;  // NOLINT: the fixture's helpers, as in one file before

TEST_F(ServeApi, GalleryCaptureAndIdentify) {
  PREPARE_OR_SKIP();
  Server s;
  start(s);
  const int port = s.port();
  // Enrol s01..s03 from their gallery images (multipart upload).
  for (const char* who : {"s01", "s02", "s03"}) {
    std::vector<Part> parts = {{"name", "", who}};
    for (int i = 1; i <= 3; ++i)
      parts.push_back(image_part(orl_ / who / (std::to_string(i) + ".jpg")));
    const Reply r = post_multipart(port, "/api/people", parts);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(r.js()["enrolled"], 3);
  }
  Reply people = get(port, "/api/people");
  ASSERT_EQ(people.status, 200);
  EXPECT_EQ(people.js()["total"], 3);
  EXPECT_EQ(people.js()["people"][0]["name"], "s01");
  EXPECT_EQ(people.js()["people"][0]["faces"], 3);
  const Reply thumb = get(port, people.js()["people"][0]["thumbnail_url"].get<std::string>());
  EXPECT_EQ(thumb.status, 200);
  EXPECT_EQ(thumb.header("content-type"), "image/jpeg");
  EXPECT_EQ(get(port, "/api/people/s01/faces/3.jpg").status, 404);
  EXPECT_EQ(get(port, "/api/people/nobody/faces/0.jpg").status, 404);

  // The live view names the person in front of the camera.
  ASSERT_EQ(send_json(port, "PUT", "/api/settings", {{"resolution", 32}}).status, 200);
  const json snap = wait_snapshot(
      port, [](const json& j) { return !j["faces"].empty() && j["faces"][0]["name"] == "s01"; },
      30);
  ASSERT_FALSE(snap["faces"].empty());
  EXPECT_EQ(snap["faces"][0]["name"], "s01") << snap.dump();
  EXPECT_EQ(snap["faces"][0]["top"][0]["name"], "s01");
  EXPECT_EQ(snap["faces"][0]["gallery_url"], "/api/people/s01/faces/0.jpg");

  // Errors of enrolment: taken name, bad name, no face, not an image, too large.
  EXPECT_EQ(
      post_multipart(port, "/api/people", {{"name", "", "s01"}, image_part(orl_ / "s01/4.jpg")})
          .status,
      409);
  const Reply badname =
      post_multipart(port, "/api/people", {{"name", "", "a/b"}, image_part(orl_ / "s05/1.jpg")});
  EXPECT_EQ(badname.status, 400);
  EXPECT_NE(badname.error().find("name"), std::string::npos);
  std::vector<uchar> grey;
  cv::imencode(".png", cv::Mat(200, 200, CV_8UC3, cv::Scalar(128, 128, 128)), grey);
  EXPECT_EQ(post_multipart(port, "/api/people",
                           {{"name", "", "nobody"},
                            {"images", "grey.png", std::string(grey.begin(), grey.end())}})
                .status,
            422);
  EXPECT_EQ(post_multipart(port, "/api/people",
                           {{"name", "", "junk"}, {"images", "junk.jpg", "this is not an image"}})
                .status,
            415);
  std::vector<uchar> wide;
  cv::imencode(".png", cv::Mat(64, 5000, CV_8UC3, cv::Scalar(0, 0, 0)), wide);
  const Reply toowide = post_multipart(
      port, "/api/people",
      {{"name", "", "wide"}, {"images", "wide.png", std::string(wide.begin(), wide.end())}});
  EXPECT_EQ(toowide.status, 413);
  EXPECT_NE(toowide.error().find("5000x64"), std::string::npos) << toowide.body;
  const Reply huge =
      post_multipart(port, "/api/people",
                     {{"name", "", "huge"}, {"images", "big.jpg", std::string(9 << 20, 'x')}});
  EXPECT_EQ(huge.status, 413);
  EXPECT_FALSE(huge.error().empty());
  EXPECT_EQ(post_multipart(port, "/api/people", {{"name", "", "nofile"}}).status, 400);

  // Add faces to an existing person, rename, delete.
  Reply add = post_multipart(port, "/api/people/s02/faces", {image_part(orl_ / "s02/4.jpg")});
  ASSERT_EQ(add.status, 200) << add.body;
  EXPECT_EQ(add.js()["faces"], 4);
  EXPECT_EQ(post_multipart(port, "/api/people/zed/faces", {image_part(orl_ / "s02/4.jpg")}).status,
            404);
  EXPECT_EQ(send_json(port, "PATCH", "/api/people/s02", {{"name", "s03"}}).status, 409);
  EXPECT_EQ(send_json(port, "PATCH", "/api/people/s02", {{"name", " x"}}).status, 400);
  EXPECT_EQ(send_json(port, "PATCH", "/api/people/zed", {{"name", "y"}}).status, 404);
  const Reply ren = send_json(port, "PATCH", "/api/people/s02", {{"name", "Zoë Two"}});
  ASSERT_EQ(ren.status, 200) << ren.body;
  EXPECT_EQ(get(port, "/api/people/Zo%C3%AB%20Two/faces/3.jpg").status, 200);
  EXPECT_EQ(get(port, "/api/people/Zo%C3%AB%20Two").js()["faces"], 4);
  EXPECT_EQ(http(port, "DELETE", "/api/people/Zo%C3%AB%20Two").status, 200);
  EXPECT_EQ(http(port, "DELETE", "/api/people/Zo%C3%AB%20Two").status, 404);
  EXPECT_EQ(get(port, "/api/people").js()["total"], 2);

  // Identify an uploaded image (raw body), same shape as `vlrface identify --json`.
  const Reply id = http(port, "POST", "/api/identify?res=full", read_file(orl_ / "s03/5.jpg"),
                        {"Content-Type: image/jpeg"});
  ASSERT_EQ(id.status, 200) << id.body;
  const json idj = id.js();
  ASSERT_TRUE(idj.is_array());
  ASSERT_EQ(idj[0]["faces"].size(), 1u);
  EXPECT_EQ(idj[0]["faces"][0]["name"], "s03");
  EXPECT_EQ(idj[0]["faces"][0]["status"], "ok");
  EXPECT_TRUE(idj[0]["faces"][0]["box"].contains("width"));
  EXPECT_LE(idj[0]["faces"][0]["top"].size(), 5u);
  EXPECT_EQ(http(port, "POST", "/api/identify", "garbage", {"Content-Type: image/jpeg"}).status,
            415);
  EXPECT_EQ(http(port, "POST", "/api/identify?res=3", read_file(orl_ / "s03/5.jpg"),
                 {"Content-Type: image/jpeg"})
                .status,
            400);

  // Capture from the camera with progress.
  Reply cap = send_json(port, "POST", "/api/people", {{"name", "camera person"}, {"capture", 2}});
  ASSERT_EQ(cap.status, 202) << cap.body;
  const std::string url = cap.js()["url"].get<std::string>();
  EXPECT_EQ(send_json(port, "POST", "/api/people", {{"name", "other"}, {"capture", 2}}).status,
            409);
  json job;
  for (int i = 0; i < 150; ++i) {
    job = get(port, url).js();
    if (job["state"] == "done" || job["state"] == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(job["state"], "done") << job.dump();
  EXPECT_EQ(job["enrolled"], 2);
  // The camera shows s01, who is enrolled already: enrolled anyway, with a warning naming s01.
  ASSERT_FALSE(job["already_enrolled"].empty()) << job.dump();
  EXPECT_EQ(job["already_enrolled"][0]["name"], "s01") << job.dump();
  EXPECT_GT(job["already_enrolled"][0]["similarity"].get<double>(), 0.2);
  EXPECT_NE(job["warning"].get<std::string>().find("s01"), std::string::npos) << job.dump();
  EXPECT_EQ(get(port, "/api/capture/0123abcd").status, 404);
  EXPECT_EQ(send_json(port, "POST", "/api/people", {{"name", "n"}, {"capture", 0}}).status, 400);
  EXPECT_EQ(get(port, "/api/people/camera%20person").js()["faces"], 2);

  // Verify task against an enrolled person.
  const Reply ver =
      send_json(port, "PUT", "/api/settings", {{"task", "verify"}, {"verify_name", "s01"}});
  EXPECT_EQ(ver.status, 200) << ver.body;

  EXPECT_EQ(s.stop(), 0) << read_file(tmp_ / "serve.log");
}

// Slowloris: clients that send a header line now and then, never ending their request head,
// must neither starve other clients nor hold a connection past the header timeout.
TEST_F(ServeApi, ModelsRoutingAndErrors) {
  PREPARE_OR_SKIP();
  Server s;
  start(s, {"--max-upload-mb", "1"});
  const int port = s.port();
  const Reply models = get(port, "/api/models");
  ASSERT_EQ(models.status, 200);
  const json mj = models.js();
  EXPECT_EQ(mj["active"]["embedder"], "edgeface_xxs");
  bool has_xxs = false;
  for (const auto& m : mj["models"]) has_xxs |= m["name"] == "edgeface_xxs" && m["active"] == true;
  EXPECT_TRUE(has_xxs) << mj.dump();

  const Reply reload = send_json(port, "POST", "/api/models/reload", json::object());
  ASSERT_EQ(reload.status, 200) << reload.body;
  EXPECT_EQ(reload.js()["embedder"], "edgeface_xxs");
  EXPECT_EQ(send_json(port, "POST", "/api/models/reload", {{"embedder", "nope"}}).status, 404);
  EXPECT_EQ(send_json(port, "POST", "/api/models/reload", {{"embedder", "yunet"}}).status, 400);
  // The adapted models serve inside the recovery of small faces: listed as such, refused as the
  // main embedder, and the gallery is not re-embedded for them.
  int adapted = 0;
  for (const auto& m : mj["models"]) {
    if (m["kind"] != "embedder") continue;
    const std::string name = m["name"].get<std::string>();
    const bool internal = name.find("_r") != std::string::npos ||
                          (name.size() > 3 && name.compare(name.size() - 3, 3, "_lr") == 0);
    EXPECT_EQ(m["adapted"].get<bool>(), internal) << m.dump();
    if (!internal) continue;
    ++adapted;
    const std::string gallery_before = get(port, "/api/models").js()["gallery_model_id"];
    const Reply refused =
        send_json(port, "POST", "/api/models/reload", {{"embedder", name}, {"reembed", true}});
    EXPECT_EQ(refused.status, 400) << name << ": " << refused.body;
    EXPECT_NE(refused.error().find("adapted model"), std::string::npos) << refused.body;
    EXPECT_EQ(get(port, "/api/models").js()["gallery_model_id"], gallery_before) << name;
    EXPECT_EQ(get(port, "/api/models").js()["active"]["embedder"], "edgeface_xxs");
  }
  if (vlrface::ModelStore(vlrtest::model_dir()).has("edgeface_xxs_r16")) {
    EXPECT_GT(adapted, 0) << "edgeface_xxs_r16 is prepared but not listed as adapted";
  }
  // After the reload the engine runs again.
  EXPECT_FALSE(wait_snapshot(
                   port, [](const json& j) { return !j["faces"].empty(); }, 20)["faces"]
                   .empty());

  const Reply unknown = get(port, "/api/nothing");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_FALSE(unknown.error().empty());
  EXPECT_EQ(get(port, "/nothing.js").status, 404);
  const Reply wrong = http(port, "DELETE", "/api/health");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.header("allow"), "GET, HEAD");
  EXPECT_FALSE(wrong.error().empty());
  EXPECT_EQ(
      http(port, "POST", "/api/people", "{\"name\": ", {"Content-Type: application/json"}).status,
      400);
  EXPECT_EQ(http(port, "POST", "/api/people", "[1,2]", {"Content-Type: application/json"}).status,
            400);
  const Reply big =
      http(port, "POST", "/api/identify", std::string(3 << 20, 'x'), {"Content-Type: image/jpeg"});
  EXPECT_EQ(big.status, 413);
  EXPECT_FALSE(big.error().empty());
  // A decompression bomb under the byte limit: a header-only PNG claiming 4096x4096 16-bit
  // RGBA (128 MiB decoded) is refused from its header, before a pixel is allocated.
  const Reply bomb = http(port, "POST", "/api/identify",
                          vlrtest::png_header_only(4096, 4096, 16, 6), {"Content-Type: image/png"});
  EXPECT_EQ(bomb.status, 413) << bomb.body;
  EXPECT_NE(bomb.error().find("decodes to 128.0 MiB"), std::string::npos) << bomb.body;
  EXPECT_EQ(http(port, "POST", "/api/identify", "5\r\nhello\r\n0\r\n\r\n",
                 {"Content-Type: image/jpeg", "Transfer-Encoding: chunked"})
                .status,
            411);
  {  // The port is taken: a second server must fail, not share it.
    Server second;
    const std::vector<std::string> args = {"--models",
                                           vlrtest::model_dir().string(),
                                           "--gallery",
                                           (tmp_ / "g2.vlrg").string(),
                                           "serve",
                                           "--camera",
                                           video_.string(),
                                           "--port",
                                           std::to_string(port)};
    EXPECT_FALSE(second.start(args, tmp_ / "second.log"));
    EXPECT_EQ(second.wait(20), 1);
    EXPECT_NE(read_file(tmp_ / "second.log").find("cannot listen"), std::string::npos);
  }
  // A page elsewhere must not drive the local server (DNS rebinding, cross-site forms).
  EXPECT_EQ(http(port, "GET", "/api/health", "", {"Host: evil.example"}).status, 403);
  // Names that only start like a loopback address are other machines (DNS rebinding).
  for (const char* h : {"127.evil.example", "127.0.0.1.evil.example", "127.0.0.1.nip.io:80",
                        "localhost.evil.example", "127.0.0.1evil"}) {
    EXPECT_EQ(http(port, "GET", "/api/people", "", {std::string("Host: ") + h}).status, 403) << h;
  }
  EXPECT_EQ(http(port, "POST", "/api/identify", "x",
                 {"Host: 127.0.0.1.evil.example", "Origin: http://127.0.0.1.evil.example"})
                .status,
            403);
  EXPECT_EQ(http(port, "GET", "/api/metrics", "", {"Host: LOCALHOST"}).status, 200);
  // Transfer-Encoding in any spelling is refused before the body is read.
  for (const char* te : {"Transfer-Encoding: Chunked", "transfer-encoding: CHUNKED",
                         "Transfer-Encoding: gzip, chunked"}) {
    EXPECT_EQ(http(port, "POST", "/api/identify", "5\r\nhello\r\n0\r\n\r\n",
                   {"Content-Type: image/jpeg", te})
                  .status,
              411)
        << te;
  }
  EXPECT_EQ(http(port, "POST", "/api/identify", "x", {"Origin: http://evil.example"}).status, 403);
  // Garbage on the wire is answered, and the server carries on.
  EXPECT_EQ(http(port, "BREW", "/api/health").status / 100, 4);
  EXPECT_EQ(get(port, "/api/metrics").status, 200);

  EXPECT_EQ(s.stop(), 0) << read_file(tmp_ / "serve.log");
}

// A frame source that fails, ends or does not exist is visible: /api/health answers 503 with
// which source, why and since when, and the terminal (stderr) gets a line; both say when frames
// come again.
TEST_F(ServeApi, CaptureOfTwoPeopleIsRefused) {
  PREPARE_OR_SKIP();
  // s01 and s02 take turns in front of the camera, half a second each.
  std::vector<fs::path> images;
  for (int i = 4; i <= 8; ++i) {
    images.push_back(orl_ / "s01" / (std::to_string(i) + ".jpg"));
    images.push_back(orl_ / "s02" / (std::to_string(i) + ".jpg"));
  }
  video_ = make_video(images, "two-people");
  Server s;
  start(s);
  const int port = s.port();
  Reply cap = send_json(port, "POST", "/api/people", {{"name", "mixed"}, {"capture", 4}});
  ASSERT_EQ(cap.status, 202) << cap.body;
  json job;
  for (int i = 0; i < 200; ++i) {
    job = get(port, cap.js()["url"].get<std::string>()).js();
    if (job["state"] == "done" || job["state"] == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(job["state"], "failed") << job.dump();
  const std::string why = job["error"].get<std::string>();
  EXPECT_NE(why.find("not all the same person"), std::string::npos) << why;
  EXPECT_NE(why.find("threshold"), std::string::npos) << why;
  EXPECT_EQ(job["enrolled"], 0);
  EXPECT_EQ(get(port, "/api/people/mixed").status, 404) << "nothing is enrolled";
  EXPECT_EQ(get(port, "/api/people").js()["total"], 0);
  EXPECT_EQ(s.stop(), 0) << read_file(tmp_ / "serve.log");
}

TEST_F(ServeApi, GalleryChangesByTheCliReachTheRunningServer) {
  PREPARE_OR_SKIP();
  Server s;
  start(s);
  const int port = s.port();
  const std::string cli = std::string(VLRFACE_CLI) + " --models " + vlrtest::model_dir().string() +
                          " --gallery " + (tmp_ / "g.vlrg").string();
  // The name /api/identify gives s01's probe (null: unknown or no face).
  const auto identify = [&] {
    const Reply r = http(port, "POST", "/api/identify?res=full", read_file(orl_ / "s01/5.jpg"),
                         {"Content-Type: image/jpeg"});
    const json j = r.js();
    if (r.status != 200 || !j.is_array() || j[0]["faces"].empty()) return json();
    return j[0]["faces"][0]["name"];
  };
  // Whether the live view's best candidate for the face in front of the camera is s01.
  const auto live_top_is_s01 = [](const json& snap) {
    return snap.contains("faces") && !snap["faces"].empty() && !snap["faces"][0]["top"].empty() &&
           snap["faces"][0]["top"][0]["name"] == "s01";
  };
  EXPECT_TRUE(identify().is_null());

  std::string images;
  for (int i = 1; i <= 3; ++i) {
    images += " " + (orl_ / "s01" / (std::to_string(i) + ".jpg")).string();
  }
  ASSERT_EQ(std::system((cli + " enroll s01" + images + " >/dev/null 2>&1").c_str()), 0);
  auto changed = std::chrono::steady_clock::now();
  json snap = wait_snapshot(port, live_top_is_s01, 10);
  EXPECT_TRUE(live_top_is_s01(snap)) << snap.dump();
  const auto seen_in = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - changed).count();
  };
  EXPECT_LT(seen_in(), 5.0) << "enrolment by the CLI reached the live view only after that long";
  EXPECT_EQ(identify(), "s01");

  ASSERT_EQ(std::system((cli + " gallery remove s01 >/dev/null 2>&1").c_str()), 0);
  changed = std::chrono::steady_clock::now();
  snap = wait_snapshot(
      port,
      [&](const json& j) {
        return j.contains("faces") && !j["faces"].empty() && !live_top_is_s01(j);
      },
      10);
  EXPECT_FALSE(live_top_is_s01(snap)) << snap.dump();
  EXPECT_LT(seen_in(), 5.0) << "removal by the CLI reached the live view only after that long";
  EXPECT_TRUE(identify().is_null()) << "s01 was removed but is still recognised";
  EXPECT_EQ(s.stop(), 0) << read_file(tmp_ / "serve.log");
}
