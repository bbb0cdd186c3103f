// Model routes (list, switch and reload the embedder) and the web UI's compiled-in files.
#include "serve_assets.hpp"
#include "serve_routes.hpp"
#include "vlrface/error.hpp"
#include "vlrface/models.hpp"

namespace vlrface::serve {
namespace {

json models_json(ServeState& state) {
  const std::string active = state.embedder();
  json models = json::array();
  for (const char* kind : {"embedder", "detector", "upscaler"}) {
    for (const std::string& name : state.store().names(kind)) {
      json m = {
          {"name", name},
          {"kind", kind},
          {"active", kind == std::string("embedder") ? name == active : name == kDefaultDetector}};
      if (kind == std::string("embedder")) {
        // Known from the manifest even when the file is damaged: the page must not offer it.
        const ModelInfo& manifest = state.store().manifest(name);
        m["adapted"] = is_adapted_embedder(manifest);
        if (!manifest.base.empty()) m["base"] = manifest.base;
      }
      try {
        const ModelInfo& info = state.store().get(name);  // also checks the file's sha256
        m["id"] = info.id;
        m["file"] = info.path.filename().string();
        m["threshold"] = info.threshold;
        m["source"] = info.source;
        if (info.resolution) m["resolution"] = info.resolution;
        m["ok"] = true;
      } catch (const Error& e) {
        m["ok"] = false;
        m["error"] = e.what();
      }
      models.push_back(m);
    }
  }
  std::string gallery_model;
  try {
    gallery_model = state.open_gallery().model_id();
  } catch (const Error& e) {
    gallery_model = e.what();
  }
  return {{"active", {{"embedder", active}, {"id", state.model_id()}}},
          {"gallery_model_id", gallery_model},
          {"model_dir", state.store().dir().string()},
          {"models", models}};
}

void serve_asset(Res& res, const std::string& name) {
  const WebAsset* a = find_web_asset(name);
  if (!a) throw HttpError(404, "no such resource: /" + name);
  res.set_header("Cache-Control", "no-cache");
  res.set_content(std::string(reinterpret_cast<const char*>(a->data), a->size),
                  content_type_for(name));
}

}  // namespace

void add_routes(Router& r, ServeState& state) {
  add_live_routes(r, state);
  add_people_routes(r, state);
  add_model_routes(r, state);
  add_asset_routes(r);
}

void add_model_routes(Router& r, ServeState& state) {
  r.add("GET", "/api/models",
        [&](const Req&, Res& res, const Params&) { send_json(res, models_json(state)); });
  r.add("POST", "/api/models/reload", [&](const Req& req, Res& res, const Params&) {
    const json body = req.body.empty() ? json::object() : json_body(req);
    std::string name = state.embedder();
    if (body.contains("embedder")) {
      if (!body["embedder"].is_string()) throw HttpError(400, "'embedder' must be a string");
      name = body["embedder"].get<std::string>();
    }
    bool reembed = false;
    if (body.contains("reembed")) {
      if (!body["reembed"].is_boolean()) throw HttpError(400, "'reembed' must be true or false");
      reembed = body["reembed"].get<bool>();
    }
    send_json(res, state.reload_models(name, reembed));
  });
}

void add_asset_routes(Router& r) {
  r.add("GET", "/", [](const Req&, Res& res, const Params&) { serve_asset(res, "index.html"); });
  r.add("GET", "/login",
        [](const Req&, Res& res, const Params&) { serve_asset(res, "login.html"); });
  r.add("GET", R"(/([A-Za-z0-9_-]+\.[a-z]{2,4}))",
        [](const Req&, Res& res, const Params& p) { serve_asset(res, p[0]); });
}

}  // namespace vlrface::serve
