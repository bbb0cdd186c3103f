// serve::Server: start-up checks, the pieces put together, and the server's life cycle.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "serve.hpp"
#include "serve_access.hpp"
#include "serve_guard.hpp"
#include "serve_http.hpp"
#include "serve_routes.hpp"
#include "serve_state.hpp"
#include "sinks.hpp"
#include "vlrface/detect.hpp"
#include "vlrface/error.hpp"

namespace vlrface::serve {
namespace {

std::string url_host(const std::string& host) {
  return host.find(':') != std::string::npos && host[0] != '[' ? "[" + host + "]" : host;
}

// The enrolled names for the event sinks' discovery configs, asked on a sink's thread: it waits
// while the state is being made, and gets an error once the state is gone (or never came).
class PeopleSource {
 public:
  std::vector<std::string> get() {
    std::unique_lock lk(mu_);  // held while reading: the state cannot go meanwhile
    cv_.wait(lk, [&] { return state_ || closed_; });
    if (!state_) throw Error("serve", "stopping");
    std::vector<std::string> names;
    for (const auto& p : state_->open_gallery().people()) names.push_back(p.name);
    return names;
  }
  void set(ServeState* s) {
    std::lock_guard lk(mu_);
    state_ = closed_ ? nullptr : s;
    closed_ = closed_ || !s;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  ServeState* state_ = nullptr;
  bool closed_ = false;
};

// Events: the sinks start connecting now (a broker that is away only delays events); the hook
// attaches the listener to each engine the state makes, the status reports the sinks in
// /api/health. Both null without --mqtt/--webhook.
struct EventWiring {
  EngineHolder::Hook hook;
  std::function<nlohmann::json()> status;
};

EventWiring event_wiring(const ServeOptions& o, const std::shared_ptr<PeopleSource>& people) {
  const auto live_events =
      events::make_live_events({o.mqtt, o.mqtt_user, o.mqtt_password_file, o.mqtt_ca_file,
                                o.camera_name, o.webhook, 30, o.event_crops},
                               [people] { return people->get(); });
  if (!live_events) return {};
  EventWiring w;
  w.hook = [live_events](live::LiveEngine& e) {
    e.set_frame_listener(
        [live_events](const live::Snapshot& s, const std::shared_ptr<const Matcher>& m) {
          live_events->on_frame(s, m);
        });
  };
  w.status = [live_events] {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& sink : live_events->sinks()) a.push_back(events::to_json(sink->stats()));
    return a;
  };
  return w;
}

}  // namespace

void check_options(const ServeOptions& o) {
  if (o.port < 0 || o.port > 65535) throw Error("serve", "--port must be in 0..65535");
  if (o.http_threads < 1 || o.http_threads > 64) throw Error("serve", "--http-threads: 1..64");
  if (o.max_streams < 0 || o.max_streams > 64) throw Error("serve", "--max-streams: 0..64");
  if (o.header_timeout_ms < 100 || o.header_timeout_ms > 600'000) {
    throw Error("serve", "--header-timeout-ms: 100..600000");
  }
  if (o.max_upload_mb < 1 || o.max_upload_mb > 256) throw Error("serve", "--max-upload-mb: 1..256");
  if (o.max_image_side < 64) throw Error("serve", "--max-image-side must be at least 64");
  if (o.stream_quality < 10 || o.stream_quality > 100) {
    throw Error("serve", "--stream-quality: 10..100");
  }
}

// Members in the order they must be made (and the reverse in which they go): the state's
// engines hold the event hook, which asks `people` for names until the state is gone.
struct Server::Impl {
  ServeOptions options;
  Access access;
  std::shared_ptr<PeopleSource> people = std::make_shared<PeopleSource>();
  struct ClosePeople {
    PeopleSource& p;
    ~ClosePeople() { p.set(nullptr); }
  };
  ClosePeople close_if_unmade{*people};
  std::unique_ptr<ServeState> state;
  ClosePeople close_before_state{*people};
  Router router;
  // Created once the port is known; the server's callbacks reach it through this pointer.
  std::unique_ptr<ConnectionGuard> guard;
  httplib::Server svr;  // first to go: no request runs once the rest is gone
  int port = 0;
  std::atomic<bool> started{false}, listening{false}, stop_requested{false}, done{false};
};

Server::Server(const ModelStore& store, const std::filesystem::path& gallery,
               const std::string& embedder, const ServeOptions& o)
    : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  check_options(o);
  d.options = o;
  d.access = make_access(o);
  ServeModel model = resolve_serve_model(store, embedder);
  // Without YuNet every frame goes to the Haar fallback (approximate alignment): said at start,
  // naming the missing file, as the CLI says it.
  if (const std::string w = detector_fallback_warning(store); !w.empty()) spdlog::warn("{}", w);
  EventWiring events = event_wiring(o, d.people);
  d.state = std::make_unique<ServeState>(
      ServeSetup{store, gallery, std::move(model), std::move(events.hook), true,
                 std::move(events.status)},
      o);
  d.people->set(d.state.get());
  add_routes(d.router, *d.state);
  configure_server(d.svr, d.router, o, d.access, d.state->requests, d.guard);

  d.port = o.port == 0 ? d.svr.bind_to_any_port(o.host) : o.port;
  if (d.port < 0 || (o.port != 0 && !d.svr.bind_to_port(o.host, d.port))) {
    throw Error("serve", "cannot listen on " + o.host + ":" + std::to_string(o.port) +
                             " (address in use or not available)");
  }
  ConnectionGuard::Options go;
  go.workers = o.http_threads + o.max_streams;
  go.header_timeout = std::chrono::milliseconds(o.header_timeout_ms);
  d.guard = std::make_unique<ConnectionGuard>(d.port, go);
}

Server::~Server() {
  impl_->state->stop();
}

int Server::port() const {
  return impl_->port;
}

std::string Server::url() const {
  return "http://" + url_host(impl_->options.host) + ":" + std::to_string(impl_->port) + "/";
}

const TokenFile& Server::token() const {
  return impl_->access.token_file;
}

bool Server::token_required() const {
  return impl_->access.token_required;
}

void Server::start() {
  Impl& d = *impl_;
  if (!d.started.exchange(true)) d.state->start();
}

void Server::listen() {
  Impl& d = *impl_;
  start();
  d.listening = true;  // stop() now waits for listen_after_bind to return
  const bool ok = !d.stop_requested && d.svr.listen_after_bind();
  d.done = true;
  d.state->stop();
  if (!ok && !d.stop_requested && !d.state->stopping()) {
    throw Error("serve", "the server stopped unexpectedly");
  }
}

void Server::stop() {
  Impl& d = *impl_;
  d.stop_requested = true;
  d.state->request_stop();  // stream loops see it and end
  // Repeated: a stop() that lands before listen_after_bind() has started is a no-op.
  while (d.listening && !d.done) {
    d.svr.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace vlrface::serve
