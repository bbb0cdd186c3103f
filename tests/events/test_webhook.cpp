// WebhookSink against a local HTTP server (httplib) that fails on purpose: retries with back-off
// until delivered, in order; a receiver that is not up yet; a 4xx that retrying cannot mend; the
// bounded queue dropping the oldest.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <mutex>
#include <thread>

#include "webhook_sink.hpp"

using nlohmann::json;
using vlrface::events::FaceEvent;
using vlrface::events::WebhookOptions;
using vlrface::events::WebhookSink;

namespace {

// A local receiver: answers `fail_status` to the first `fail_first` requests, then 200 (or 400
// for a track id in `refuse`), and records the bodies it accepted.
class Receiver {
 public:
  explicit Receiver(int fail_first = 0, int fail_status = 503, std::int64_t refuse = -1,
                    int port = 0)
      : fail_first_(fail_first), fail_status_(fail_status), refuse_(refuse) {
    svr_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      const int n = ++requests_;
      if (req.get_header_value("Content-Type") != "application/json") {
        res.status = 415;
        return;
      }
      if (n <= fail_first_) {
        res.status = fail_status_;
        return;
      }
      const json j = json::parse(req.body);
      if (j["track_id"] == refuse_) {
        res.status = 400;
        return;
      }
      std::lock_guard lk(mu_);
      bodies_.push_back(j);
      res.status = 200;
    });
    port_ = port ? (svr_.bind_to_port("127.0.0.1", port) ? port : -1)
                 : svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (port_ > 0 && !svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    svr_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  int requests() const { return requests_; }
  std::vector<std::int64_t> tracks() {
    std::lock_guard lk(mu_);
    std::vector<std::int64_t> t;
    for (const auto& b : bodies_) t.push_back(b["track_id"].get<std::int64_t>());
    return t;
  }
  json first() {
    std::lock_guard lk(mu_);
    return bodies_.empty() ? json() : bodies_.front();
  }

 private:
  httplib::Server svr_;
  std::thread thread_;
  int fail_first_, fail_status_;
  std::int64_t refuse_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::vector<json> bodies_;
};

FaceEvent event(std::int64_t track) {
  FaceEvent e;
  e.time = std::chrono::system_clock::now();
  e.camera = "door";
  e.name = "alice";
  e.track_id = track;
  return e;
}

WebhookOptions options(int port) {
  WebhookOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  o.min_backoff_s = 0.05;
  o.max_backoff_s = 0.2;
  o.timeout_s = 2;
  return o;
}

bool wait_until(const std::function<bool()>& ok, int seconds = 10) {
  for (int i = 0; i < seconds * 50; ++i) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ok();
}

TEST(Webhook, RetriesUntilDeliveredInOrder) {
  Receiver r(/*fail_first=*/3);
  ASSERT_GT(r.port(), 0);
  WebhookSink sink(options(r.port()));
  for (int i = 1; i <= 3; ++i) sink.face(event(i));
  ASSERT_TRUE(wait_until([&] { return r.tracks().size() == 3; }));
  EXPECT_EQ(r.tracks(), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(r.requests(), 6) << "3 failures, then one POST per event";
  EXPECT_EQ(r.first()["name"], "alice");
  EXPECT_EQ(r.first()["camera"], "door");
  // The receiver keeps a body before its 200 reaches the sink, so the count may lag a moment.
  EXPECT_TRUE(wait_until([&] { return sink.stats().delivered == 3u; }))
      << "delivered " << sink.stats().delivered;
  EXPECT_EQ(sink.stats().dropped, 0u);
}

TEST(Webhook, WaitsForAReceiverThatIsNotUpYet) {
  int port = 0;
  { Receiver probe; port = probe.port(); }  // a port that was free a moment ago
  auto sink = std::make_unique<WebhookSink>(options(port));
  sink->face(event(1));
  sink->face(event(2));
  ASSERT_TRUE(wait_until([&] { return sink->stats().state.rfind("retrying", 0) == 0; }));
  EXPECT_FALSE(sink->stats().connected);
  EXPECT_EQ(sink->stats().queued, 2u);
  Receiver r(0, 503, -1, port);
  ASSERT_EQ(r.port(), port);
  ASSERT_TRUE(wait_until([&] { return r.tracks().size() == 2; }));
  EXPECT_EQ(r.tracks(), (std::vector<std::int64_t>{1, 2}));
  sink.reset();  // first: its kept-alive connection would hold the receiver's stop
}

TEST(Webhook, ARefusedEventIsDroppedNotRetried) {
  Receiver r(0, 503, /*refuse=*/1);
  WebhookSink sink(options(r.port()));
  sink.face(event(1));
  sink.face(event(2));
  ASSERT_TRUE(wait_until([&] { return r.tracks().size() == 1; }));
  EXPECT_EQ(r.tracks(), (std::vector<std::int64_t>{2}));
  EXPECT_EQ(r.requests(), 2) << "a 400 is not repeated";
  EXPECT_EQ(sink.stats().dropped, 1u);
}

TEST(Webhook, FullQueueDropsTheOldestWaiting) {
  int port = 0;
  { Receiver probe; port = probe.port(); }
  WebhookOptions o = options(port);
  o.queue_capacity = 5;
  auto sink = std::make_unique<WebhookSink>(o);
  for (int i = 1; i <= 12; ++i) sink->face(event(i));
  EXPECT_EQ(sink->stats().dropped, 7u);
  EXPECT_EQ(sink->stats().queued, 5u);
  Receiver r(0, 503, -1, port);
  ASSERT_TRUE(wait_until([&] { return r.tracks().size() == 5; }));
  // The head (being retried) stays; the oldest waiting behind it gave way.
  EXPECT_EQ(r.tracks(), (std::vector<std::int64_t>{1, 9, 10, 11, 12}));
  sink.reset();
}

// https:// verifies the receiver's certificate: one the system's CAs did not sign gets nothing.
TEST(Webhook, HttpsRefusesAnUnverifiedReceiver) {
  if (std::system("openssl version >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "the openssl program is missing (Debian: openssl)";
  }
  std::random_device rd;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("vlrface-hook-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  const std::string cmd = "cd " + dir.string() +
                          " && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out "
                          "cert.pem -days 2 -subj /CN=localhost -addext "
                          "subjectAltName=DNS:localhost >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  httplib::SSLServer svr((dir / "cert.pem").c_str(), (dir / "key.pem").c_str());
  ASSERT_TRUE(svr.is_valid());
  std::atomic<int> requests{0};
  svr.Post("/hook", [&](const httplib::Request&, httplib::Response& res) {
    ++requests;
    res.status = 200;
  });
  const int port = svr.bind_to_any_port("127.0.0.1");
  std::thread t([&] { svr.listen_after_bind(); });
  while (!svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  {
    WebhookOptions o = options(port);
    o.url = "https://localhost:" + std::to_string(port) + "/hook";
    WebhookSink sink(o);
    sink.face(event(1));
    EXPECT_TRUE(wait_until([&] { return sink.stats().state.rfind("retrying", 0) == 0; }))
        << sink.stats().state;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(sink.stats().delivered, 0u);
    EXPECT_EQ(requests.load(), 0) << "an event went to a receiver that could not be verified";
    EXPECT_NE(sink.stats().state.find("SSL"), std::string::npos) << sink.stats().state;
  }
  svr.stop();
  t.join();
  std::filesystem::remove_all(dir);
}

}  // namespace
