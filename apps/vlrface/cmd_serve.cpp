// `vlrface serve`: the command line of the web server; the vlrface_serve library does the rest.
#include "cmd_serve.hpp"

namespace vlrface::cli {

CLI::App* add_serve_command(CLI::App& app, serve::ServeOptions& o) {
  auto* c = app.add_subcommand("serve", "live camera view, REST API and web UI over HTTP");
  c->add_option("--camera", o.camera,
                "frame source: camera index, /dev/videoN, video file, rtsp/http URL or image "
                "folder")
      ->capture_default_str();
  c->add_option("--host", o.host, "address to listen on; other than loopback needs a token")
      ->capture_default_str();
  c->add_option("--port", o.port, "TCP port (0: any free port)")->capture_default_str();
  c->add_option("--width", o.width, "camera frame width")->capture_default_str();
  c->add_option("--height", o.height, "camera frame height")->capture_default_str();
  c->add_option("--fps", o.fps, "camera rate; image folders: playback rate")->capture_default_str();
  c->add_flag("--loop", o.loop, "video files and folders: start again at the end");
  c->add_option("--res", o.resolution,
                "auto: each face recovered from its own size (native mode); 16, 24, 32 (any "
                "4..111): every face shrunk to that size first (simulate mode)")
      ->capture_default_str();
  c->add_option("--upscaler", o.upscaler,
                "low-resolution faces back to 112x112: auto (measured best), dsr, bicubic")
      ->check(CLI::IsMember({"auto", "bicubic", "dsr"}))
      ->capture_default_str();
  c->add_option(
       "--adapter", o.adapter,
       "embed small faces with the adapted EdgeFace (low-resolution student): auto, on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  c->add_option("--threshold", o.threshold,
                "cosine at or below which a face is unknown (default: each face's threshold, "
                "calibrated for its size and recovery)");
  c->add_option("--token-file", o.token_file,
                "access token file (created with a new token when missing); implies "
                "--require-token");
  c->add_flag("--require-token", o.require_token,
              "require the access token even on loopback (default file: " +
                  serve::default_token_path().string() + ")");
  c->add_option("--http-threads", o.http_threads, "HTTP worker threads for API requests")
      ->capture_default_str();
  c->add_option("--max-streams", o.max_streams, "concurrent /api/stream clients")
      ->capture_default_str();
  c->add_option("--header-timeout-ms", o.header_timeout_ms,
                "a connection that has not sent its request head this long after opening is "
                "closed (slow clients must not hold the workers)")
      ->capture_default_str();
  c->add_option("--max-upload-mb", o.max_upload_mb, "largest request body, in MB")
      ->capture_default_str();
  c->add_option("--max-image-side", o.max_image_side, "largest uploaded image side, in pixels")
      ->capture_default_str();
  c->add_option("--stream-quality", o.stream_quality, "JPEG quality of the live stream")
      ->capture_default_str();
  c->add_option("--mqtt", o.mqtt,
                "publish one event per decided face track to this broker, with Home Assistant "
                "discovery: mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (docs/INTEGRATIONS.md)");
  c->add_option("--mqtt-user", o.mqtt_user, "MQTT user name");
  c->add_option("--mqtt-password-file", o.mqtt_password_file,
                "file whose first line is the MQTT password (owner-only, chmod 600)");
  c->add_option("--mqtt-ca-file", o.mqtt_ca_file,
                "mqtts: CA certificate (PEM) of the broker (default: the system's CAs)");
  c->add_option("--camera-name", o.camera_name,
                "this camera's name in topics and events ([A-Za-z0-9_-]; default: host name)");
  c->add_option("--webhook", o.webhook, "POST each event as JSON to this http(s) URL");
  c->add_flag("--event-crops", o.event_crops,
              "add a small JPEG of the face to each event (biometric data: off by default)");
  return c;
}

int run_serve(const GlobalOptions& g, const serve::ServeOptions& o) {
  serve::check_options(o);  // option errors first, before models or the gallery are looked at
  const Context ctx(g);     // the model folder and the inference threads
  return serve::run(ctx.store(), ctx.gallery_path(), g.embedder, o);
}

}  // namespace vlrface::cli
