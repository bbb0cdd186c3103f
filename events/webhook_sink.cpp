#include "webhook_sink.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "vlrface/error.hpp"

namespace vlrface::events {
namespace {

using Clock = std::chrono::steady_clock;

std::string fmt_s(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

// Worth another try: the receiver is away, overloaded or slow, not refusing this request.
bool transient(int status) {
  return status == 408 || status == 429 || status >= 500;
}

}  // namespace

WebhookUrl parse_webhook_url(const std::string& url) {
  std::string scheme;
  if (url.rfind("http://", 0) == 0) {
    scheme = "http://";
  } else if (url.rfind("https://", 0) == 0) {
    scheme = "https://";
  } else {
    throw Error("events", "--webhook '" + url + "': expected an http:// or https:// URL");
  }
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find_first_of("/?");
  const std::string authority = rest.substr(0, slash);
  if (authority.empty()) throw Error("events", "--webhook '" + url + "': no host");
  if (authority.find('@') != std::string::npos) {
    throw Error("events", "--webhook: no user or password in the URL (it would show in the "
                          "process list); put a secret in the path instead, as Home Assistant's "
                          "webhook ids are");
  }
  WebhookUrl u;
  u.origin = scheme + authority;
  u.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (u.path[0] == '?') u.path = "/" + u.path;
  return u;
}

struct WebhookSink::Impl {
  WebhookOptions o;
  WebhookUrl url;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> waiting;  // JSON bodies; the head is being sent
  bool stopping = false;
  SinkStats st;
  std::thread worker;

  explicit Impl(WebhookOptions opts) : o(std::move(opts)), url(parse_webhook_url(o.url)) {
    if (o.queue_capacity < 1) throw Error("events", "the webhook queue needs room for one event");
    st.state = "idle";
    worker = std::thread([this] { run(); });
  }

  ~Impl() {
    {
      std::lock_guard lk(mu);
      stopping = true;
    }
    cv.notify_all();
    worker.join();
  }

  void push(std::string body) {
    {
      std::lock_guard lk(mu);
      // The head may be on the wire: the next one gives way instead.
      if (waiting.size() >= o.queue_capacity) {
        if (waiting.size() >= 2) {
          waiting.erase(waiting.begin() + 1);
        } else {
          waiting.clear();
        }
        ++st.dropped;
      }
      waiting.push_back(std::move(body));
    }
    cv.notify_all();
  }

  void run() {
    httplib::Client client(url.origin);
    const auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::duration<double>(o.timeout_s));
    client.set_connection_timeout(timeout);
    client.set_read_timeout(timeout);
    client.set_write_timeout(timeout);
    client.set_keep_alive(true);
    double backoff = o.min_backoff_s;
    Clock::time_point flush_end{};
    for (;;) {
      std::string body;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return stopping || !waiting.empty(); });
        if (stopping) {
          if (flush_end == Clock::time_point{}) {
            flush_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(o.flush_timeout_s));
          }
          if (waiting.empty() || Clock::now() >= flush_end) break;
        }
        body = waiting.front();
      }
      const auto res = client.Post(url.path, body, "application/json");
      std::string why;
      bool done = false;
      if (!res) {
        why = "POST " + o.url + ": " + httplib::to_string(res.error());
      } else if (res->status >= 200 && res->status < 300) {
        done = true;
      } else if (transient(res->status)) {
        why = "POST " + o.url + ": HTTP " + std::to_string(res->status);
      } else {
        spdlog::warn("webhook: POST {} answered {}: event dropped (retrying cannot help)", o.url,
                     res->status);
        std::lock_guard lk(mu);
        if (!waiting.empty() && waiting.front() == body) waiting.pop_front();
        ++st.dropped;
        continue;
      }
      std::unique_lock lk(mu);
      if (done) {
        if (!waiting.empty() && waiting.front() == body) waiting.pop_front();
        ++st.delivered;
        st.connected = true;
        st.state = "delivering";
        backoff = o.min_backoff_s;
        continue;
      }
      if (st.connected || st.state.rfind("retrying", 0) != 0) spdlog::warn("webhook: {}", why);
      st.connected = false;
      st.state = "retrying in " + fmt_s(backoff) + " s: " + why;
      if (stopping) break;
      cv.wait_for(lk, std::chrono::duration<double>(backoff), [&] { return stopping; });
      backoff = std::min(backoff * 2, o.max_backoff_s);
    }
    std::lock_guard lk(mu);
    st.state = "stopped";
  }
};

WebhookSink::WebhookSink(WebhookOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

WebhookSink::~WebhookSink() = default;

void WebhookSink::face(const FaceEvent& e) {
  impl_->push(to_json(e).dump());
}

SinkStats WebhookSink::stats() const {
  std::lock_guard lk(impl_->mu);
  SinkStats s = impl_->st;
  s.sink = "webhook";
  s.queued = impl_->waiting.size();
  return s;
}

}  // namespace vlrface::events
