// `vlrface serve`: the live camera view, REST API and web UI in one small HTTP server.
//
// Usage (main.cpp):
//   ServeOptions serve;
//   CLI::App* c_serve = add_serve_command(app, serve);
//   ...
//   if (*c_serve) return run_serve(g, serve);
// run_serve blocks until SIGTERM or SIGINT, then stops the server, the live engine and any
// running capture, and returns 0. Start-up problems (a port in use, a non-local address without
// an access token, an unreadable gallery) are thrown as Error("serve", ...).
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <functional>
#include <string>

#include "context.hpp"

namespace vlrface::live {
class LiveEngine;
}

namespace vlrface::cli {

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
  // Not an option: run_serve sets it to attach the event listener to every live engine the
  // state makes (at start and after a model reload).
  std::function<void(live::LiveEngine&)> on_engine;
};

CLI::App* add_serve_command(CLI::App& app, ServeOptions& options);
int run_serve(const GlobalOptions& g, const ServeOptions& options);

}  // namespace vlrface::cli
