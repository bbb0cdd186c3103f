// `vlrface serve` as a library (target vlrface_serve): the live camera view, REST API and web UI
// in one small HTTP server. The `vlrface` command only parses options and calls it
// (apps/vlrface/cmd_serve.cpp).
//
// Usage:
//   serve::ServeOptions o;                       // the command's options
//   return serve::run(store, gallery_path, "edgeface_xxs", o);   // until SIGTERM or SIGINT
// or, inside another program (its own signal handling):
//   serve::Server server(store, gallery_path, "edgeface_xxs", o);   // models loaded, port bound
//   server.start();                             // the live engine
//   std::thread t([&] { server.listen(); });    // answers requests
//   ... server.port() ...  server.stop();  t.join();
// Start-up problems (a port in use, a non-local address without an access token, an unreadable
// gallery, a missing model) are thrown as Error("serve" or "models" or "gallery", ...).
// The parts (serve_access.hpp: Host/Origin/token/body checks; serve_routes.hpp: the handlers;
// serve_state.hpp: what they share) are public too, for tests without a process.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "serve_auth.hpp"
#include "vlrface/models.hpp"

namespace vlrface::serve {

struct ServeOptions {
  std::string camera = "0";  // SourceSpec::parse text
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (printed on the first line of stdout)
  int width = 640, height = 480;
  double fps = 30;
  bool loop = false;
  std::string resolution = "auto";  // auto: native mode; 16, 24, 32: simulate mode
  std::string upscaler = "auto";
  std::string adapter = "auto";
  double threshold = -2;   // < -1: the embedding model's default
  std::string token_file;  // given: a token is required, read from (or generated into) it
  bool require_token = false;
  int http_threads = 3;  // workers for API requests and asset downloads
  int max_streams = 4;   // concurrent /api/stream clients, each holding one extra thread
  // A connection must deliver its request head this soon after opening (or after its previous
  // response), or it is closed: slow clients must not hold the worker threads (serve_guard.hpp).
  int header_timeout_ms = 10'000;
  int max_upload_mb = 8;
  int max_image_side = 4096;
  int stream_quality = 75;  // JPEG quality of /api/stream
  // Events, one per decided track (events/, docs/INTEGRATIONS.md): an MQTT broker and/or a
  // webhook. Empty: none.
  std::string mqtt, mqtt_user, mqtt_password_file, mqtt_ca_file, camera_name, webhook;
  bool event_crops = false;
};

// Error("serve", ...) naming the first option out of its range.
void check_options(const ServeOptions& o);

class Server {
 public:
  // Checks the options, reads (or creates) the access token, starts the event sinks, loads the
  // models, opens the gallery and binds the port. `store` must outlive the server.
  Server(const ModelStore& store, const std::filesystem::path& gallery, const std::string& embedder,
         const ServeOptions& o);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;         // the bound port (the chosen one for port 0)
  std::string url() const;  // http://HOST:PORT/
  // The token in use: empty `token` when none is required; `generated` when made just now.
  const TokenFile& token() const;
  bool token_required() const;

  // Starts the live engine (and the housekeeping that follows the gallery); listen() does it
  // when not done yet.
  void start();
  // Answers requests until stop(); then stops the engine and any running capture.
  // Error("serve", ...) when the server stopped without being asked to.
  void listen();
  // From any thread (a signal thread), before or during listen(): long-running handlers (the
  // stream) end, and listen() returns (or, not begun yet, returns at once); waits for that.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The `vlrface serve` command: a Server, its start-up lines on stdout (the first says the URL),
// until SIGTERM or SIGINT; then 0. Also tunes malloc for a small machine (one arena).
int run(const ModelStore& store, const std::filesystem::path& gallery, const std::string& embedder,
        const ServeOptions& o);

}  // namespace vlrface::serve
