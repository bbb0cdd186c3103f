// EngineHolder: the live engine's ownership and model switches.
#include "serve_engine.hpp"

#include <spdlog/spdlog.h>

#include "serve_http.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"

using nlohmann::json;

namespace vlrface::serve {

bool is_adapted_embedder(const ModelInfo& info) {
  const std::string lr = "_lr";
  const bool lr_name = info.name.size() > lr.size() &&
                       info.name.compare(info.name.size() - lr.size(), lr.size(), lr) == 0;
  return info.kind == "embedder" && (!info.base.empty() || lr_name);
}

ServeModel resolve_serve_model(const ModelStore& store, const std::string& embedder) {
  const ModelInfo& info = store.get(embedder);  // a missing model fails here, by name
  if (is_adapted_embedder(info)) {
    throw Error("serve", "--model " + embedder +
                             ": an adapted model for small faces cannot be the main embedder; "
                             "use " +
                             (info.base.empty() ? std::string(kDefaultEmbedder) : info.base));
  }
  return {embedder, info.id, static_cast<float>(info.threshold)};
}

EngineHolder::EngineHolder(const ModelStore& store, std::filesystem::path gallery,
                           live::SourceSpec source, ServeModel model, live::LiveSettings settings,
                           Hook on_engine)
    : store_(store),
      gallery_(std::move(gallery)),
      source_(std::move(source)),
      on_engine_(std::move(on_engine)),
      settings_(std::move(settings)),
      model_(std::move(model)) {}

void EngineHolder::create() {
  auto e = make_engine(embedder(), saved_settings());
  std::lock_guard lock(mu_);
  engine_ = std::move(e);
}

void EngineHolder::stop() {
  if (auto e = engine()) e->stop();
  std::lock_guard lock(mu_);
  engine_.reset();
}

std::shared_ptr<live::LiveEngine> EngineHolder::make_engine(const std::string& embedder,
                                                            const live::LiveSettings& s) const {
  auto e = std::make_shared<live::LiveEngine>(store_, gallery_, s, source_, embedder);
  if (on_engine_) on_engine_(*e);  // events (serve --mqtt/--webhook)
  return e;
}

std::shared_ptr<live::LiveEngine> EngineHolder::engine() const {
  std::lock_guard lock(mu_);
  return engine_;
}

std::shared_ptr<live::LiveEngine> EngineHolder::live() const {
  auto e = engine();
  if (!e) {
    throw HttpError(503, "the live engine is not running (a model reload failed; see the log)");
  }
  return e;
}

std::string EngineHolder::embedder() const {
  std::lock_guard lock(mu_);
  return model_.embedder;
}

std::string EngineHolder::model_id() const {
  std::lock_guard lock(mu_);
  return model_.id;
}

float EngineHolder::default_threshold() const {
  std::lock_guard lock(mu_);
  return model_.threshold;
}

live::LiveSettings EngineHolder::saved_settings() const {
  std::lock_guard lock(mu_);
  return settings_;
}

json EngineHolder::reload(const std::string& name, bool reembed,
                          const std::function<void()>& free_models) {
  std::lock_guard reload(reload_mu_);
  if (!store_.has(name)) throw HttpError(404, "no model named '" + name + "'");
  const ModelInfo& info = store_.get(name);
  if (info.kind != "embedder") {
    throw HttpError(400, "'" + name + "' is a " + info.kind + ", not an embedding model");
  }
  // Refused before the gallery is touched: nothing is re-embedded for a model that cannot run.
  if (is_adapted_embedder(info)) {
    throw HttpError(400, "'" + name + "' is an adapted model for small faces" +
                             (info.base.empty() ? std::string() : " (of " + info.base + ")") +
                             ", used inside their recovery; choose a main embedder such as " +
                             (info.base.empty() ? std::string(kDefaultEmbedder) : info.base));
  }
  int reembedded = 0;
  {
    GallerySettings gs;
    gs.create_if_missing = true;
    Gallery g(gallery_, info.id, gs, GalleryOpen::kAllowModelMismatch);
    if (g.model_id() != info.id) {
      if (g.size() > 0 && !reembed) {
        throw HttpError(409, "the gallery holds embeddings of " + g.model_id() + ": switching to " +
                                 info.id + " re-embeds its " + std::to_string(g.size()) +
                                 " people from their stored faces; send \"reembed\": true");
      }
      Embedder emb(info);
      g.reembed([&](const cv::Mat& face) { return emb.embed(face); }, info.id);
      reembedded = static_cast<int>(g.size());
    }
  }
  const std::string previous = embedder();
  auto old = engine();
  live::LiveSettings settings = saved_settings();
  if (old) {
    settings = old->settings();
    old->stop();
  }
  {
    std::lock_guard lock(mu_);
    engine_.reset();
  }
  old.reset();  // both engines' models at once would double the peak memory
  if (free_models) free_models();
  std::shared_ptr<live::LiveEngine> fresh;
  try {
    fresh = make_engine(name, settings);
    fresh->start();
  } catch (const std::exception& e) {
    spdlog::warn("serve: loading {} failed ({}); restarting with {}", name, e.what(), previous);
    try {
      fresh = make_engine(previous, settings);
      fresh->start();
      std::lock_guard lock(mu_);
      engine_ = fresh;
    } catch (const std::exception& again) {
      // Left without an engine: handlers answer 503 and the next reload may fix it.
      spdlog::error("serve: restarting with {} failed too: {}", previous, again.what());
    }
    throw;
  }
  std::lock_guard lock(mu_);
  engine_ = fresh;
  settings_ = settings;
  model_ = {name, info.id, static_cast<float>(info.threshold)};
  spdlog::info("serve: embedding model {} loaded", info.id);
  return {{"embedder", name}, {"id", info.id}, {"reembedded_people", reembedded}};
}

}  // namespace vlrface::serve
