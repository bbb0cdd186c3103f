// The live engine of `vlrface serve` and the embedding model it runs: who owns the engine, which
// model is active, and switching models (re-embedding the gallery when asked).
//
// Usage:
//   EngineHolder h(store, gallery_path, source, resolve_serve_model(store, name), settings, hook);
//   h.create();                      // loads the models (start-up errors come from here)
//   h.engine()->start();
//   auto e = h.live();               // for one request: 503 while there is no engine
//   h.reload("edgeface_s", true, free_request_models);  // 404/400/409 as HttpError
// A holder without an engine (create() not called, or a reload that failed twice) is a state the
// server runs in: the live routes answer 503, the gallery routes work.
// Thread safety: every public method may be called from any thread; one reload at a time.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "live_engine.hpp"
#include "vlrface/models.hpp"

namespace vlrface::serve {

// The active embedding model: its name in the store, its id (what the gallery records) and its
// full-resolution threshold.
struct ServeModel {
  std::string embedder, id;
  float threshold = 0;
};

// Adapted embedders (edgeface_xxs_r16, a `*_lr` student, any manifest with a `base`) serve inside
// the recovery of small faces; as the main embedder they would judge large faces with a model
// never meant for them. The models page does not offer them and a reload refuses them.
bool is_adapted_embedder(const ModelInfo& info);

// `embedder` from the store (Error("models", ...) naming a missing or damaged file), refused
// with Error("serve", ...) when it is an adapted model.
ServeModel resolve_serve_model(const ModelStore& store, const std::string& embedder);

class EngineHolder {
 public:
  // Called on every engine made (at start and after a reload): attaches the event listener.
  using Hook = std::function<void(live::LiveEngine&)>;

  EngineHolder(const ModelStore& store, std::filesystem::path gallery, live::SourceSpec source,
               ServeModel model, live::LiveSettings settings, Hook on_engine);
  EngineHolder(const EngineHolder&) = delete;
  EngineHolder& operator=(const EngineHolder&) = delete;

  // Makes the first engine (not started): loads its models.
  void create();
  // Stops the engine and lets it go; idempotent.
  void stop();

  // The current engine; a reload replaces it, so hold the pointer only for one request.
  std::shared_ptr<live::LiveEngine> engine() const;
  // The same for handlers: HttpError 503 instead of null.
  std::shared_ptr<live::LiveEngine> live() const;

  const ModelStore& store() const { return store_; }
  const live::SourceSpec& source() const { return source_; }
  std::string embedder() const;
  std::string model_id() const;
  float default_threshold() const;
  // The start-up settings, then those of the last reload (a new engine starts with them).
  live::LiveSettings saved_settings() const;

  // Switches (or reloads) the embedding model: 404 unknown, 400 not a main embedder, 409 when
  // the gallery holds another model's embeddings and `reembed` is false. `free_models` runs
  // once the old engine is gone and before the new one loads (both at once would double the
  // peak memory). A new model that fails to load brings the previous one back and rethrows.
  nlohmann::json reload(const std::string& embedder, bool reembed,
                        const std::function<void()>& free_models);

 private:
  std::shared_ptr<live::LiveEngine> make_engine(const std::string& embedder,
                                                const live::LiveSettings& s) const;

  const ModelStore& store_;
  std::filesystem::path gallery_;
  live::SourceSpec source_;
  Hook on_engine_;

  mutable std::mutex mu_;
  std::shared_ptr<live::LiveEngine> engine_;
  live::LiveSettings settings_;
  ServeModel model_;
  std::mutex reload_mu_;  // one model reload at a time
};

}  // namespace vlrface::serve
