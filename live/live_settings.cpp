#include "live_settings.hpp"

#include <cmath>

#include "vlrface/align.hpp"
#include "vlrface/error.hpp"
#include "vlrface/pipeline.hpp"

namespace vlrface::live {

void check_live_settings(const LiveSettings& s, const SettingsContext& ctx) {
  if (s.mode != "simulate" && s.mode != "native") {
    throw Error("live", "mode must be 'simulate' or 'native', not '" + s.mode + "'");
  }
  if (s.mode == "simulate" && s.resolution != 0 &&
      (s.resolution < 4 || s.resolution >= kAlignedSize)) {
    throw Error("live", "resolution " + std::to_string(s.resolution) +
                            " out of range (16, 24, 32; any 4..111; 0 for full)");
  }
  if (s.task != "identify" && s.task != "verify") {
    throw Error("live", "task must be 'identify' or 'verify', not '" + s.task + "'");
  }
  if (s.task == "verify") {
    if (s.verify_name.empty()) throw Error("live", "verify needs the name of an enrolled person");
    if (!ctx.gallery || !ctx.gallery->contains(s.verify_name)) {
      throw Error("live",
                  "verify: '" + s.verify_name + "' is not enrolled in " + ctx.gallery_shown);
    }
  }
  if (std::isnan(s.threshold) || s.threshold > 1) {
    throw Error("live", "threshold must be -1..1 (or below -1 for the model's default)");
  }
  if (s.upscaler != "auto" && s.upscaler != "bicubic" && s.upscaler != "dsr") {
    throw Error("live", "upscaler must be auto, bicubic or dsr, not '" + s.upscaler + "'");
  }
  // Resolving now reports a missing DSR or adapted model to the caller, not to a log.
  const auto adapter = parse_adapter_choice(s.adapter);
  if (s.mode == "simulate" && s.resolution > 0) {
    (void)resolve_recovery(ctx.store, ctx.embedder, s.resolution, s.upscaler, adapter,
                           /*native=*/false);
  } else if (s.mode == "native") {
    const int cutoff = ctx.store.manifest(ctx.embedder).cutoff_px;
    for (int px = 8; px < cutoff; ++px) {
      (void)resolve_recovery(ctx.store, ctx.embedder, px, s.upscaler, adapter);
    }
  }
}

int pipeline_resolution(const LiveSettings& s) {
  return s.mode == "simulate" ? s.resolution : kResolutionAuto;
}

}  // namespace vlrface::live
