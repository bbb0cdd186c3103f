#pragma once
// The checks a LiveSettings value must pass before the engine takes it: one place, so that
// the constructor and update_settings() refuse the same things with the same messages.

#include <string>

#include "live_engine.hpp"
#include "vlrface/match.hpp"
#include "vlrface/models.hpp"

namespace vlrface::live {

// What a LiveSettings is checked against: the model store, the embedder it will run, and the
// gallery as it is now (null: none loaded; `gallery_shown` names it in messages).
struct SettingsContext {
  const ModelStore& store;
  const std::string& embedder;
  const Matcher* gallery = nullptr;
  std::string gallery_shown;
};

// Throws Error("live", ...) naming the bad value: an unknown mode, task or upscaler, a
// simulated resolution out of range, a threshold above 1, verify without an enrolled person,
// or a recovery model (DSR, adapted embedder) the settings would need and the store lacks.
void check_live_settings(const LiveSettings& s, const SettingsContext& ctx);

// The pipeline resolution the settings ask for: the simulated size, or kResolutionAuto
// (each face from its own size) in native mode.
int pipeline_resolution(const LiveSettings& s);

}  // namespace vlrface::live
