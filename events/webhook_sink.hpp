// events/webhook_sink.hpp — face events as JSON POSTs to a URL, for tools without MQTT.
//
// Usage:
//   vlrface::events::WebhookOptions o;
//   o.url = "http://127.0.0.1:8123/api/webhook/vlrface-door";
//   vlrface::events::WebhookSink sink(o);
//   sink.face(event);   // queued; POSTed in order by a worker thread
// Each event is one POST of its JSON (event.hpp), Content-Type application/json. A 2xx answer
// delivers it; a connection failure, a timeout, 408, 429 or a 5xx answer is retried after
// min_backoff_s, doubling up to max_backoff_s (reset by a delivery), the event staying at the
// head of the queue so that order is kept; any other answer (4xx: the request itself is wrong)
// drops it with a warning, since repeating it cannot help. The queue holds queue_capacity events
// (1000 by default); when full, the OLDEST waiting event is dropped (stats().dropped).
// Destruction tries the queue for at most flush_timeout_s.
// Thread safety: every public method may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include "event.hpp"

namespace vlrface::events {

struct WebhookOptions {
  std::string url;  // http:// or https:// (the certificate is verified against the system CAs)
  std::size_t queue_capacity = 1000;
  double min_backoff_s = 0.5, max_backoff_s = 30;
  double timeout_s = 5;  // connect, and read of the answer
  double flush_timeout_s = 2;
};

struct WebhookUrl {
  std::string origin;  // scheme://host[:port], as httplib's client takes it
  std::string path;    // "/..." with any query
};
// Error("events", ...) naming what is wrong (scheme, host, user info).
WebhookUrl parse_webhook_url(const std::string& url);

class WebhookSink : public EventSink {
 public:
  explicit WebhookSink(WebhookOptions options);  // Error("events", ...) for a bad URL
  ~WebhookSink() override;
  WebhookSink(const WebhookSink&) = delete;
  WebhookSink& operator=(const WebhookSink&) = delete;

  void face(const FaceEvent& e) override;
  SinkStats stats() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlrface::events
