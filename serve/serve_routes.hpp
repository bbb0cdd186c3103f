// The routes of `vlrface serve`, grouped by what they touch. docs/API.md documents each one.
#pragma once

#include <string>

#include "serve_http.hpp"
#include "serve_state.hpp"

namespace vlrface::serve {

// /api/health, /api/metrics, /api/snapshot, /api/stream, /api/faces/..., /api/settings
void add_live_routes(Router& r, ServeState& state);
// /api/people..., /api/capture/..., /api/identify
void add_people_routes(Router& r, ServeState& state);
// /api/models, /api/models/reload
void add_model_routes(Router& r, ServeState& state);
// The web UI's compiled-in files: /, /login, /app.js, ...
void add_asset_routes(Router& r);
// All of the above: the server's whole API.
void add_routes(Router& r, ServeState& state);

// The face of the latest snapshot (or the JSON of a stored person) as a thumbnail URL.
std::string face_image_url(const std::string& person, int index);

}  // namespace vlrface::serve
