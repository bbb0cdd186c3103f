// vlrface/models.hpp — the one place that knows where models live and what they are.
//
// Usage:
//   auto dir = vlrface::resolve_model_dir(cli_models_flag);   // --models, $VLRFACE_MODELS, default
//   vlrface::ModelStore store(dir);
//   const vlrface::ModelInfo& m = store.get("edgeface_xxs");   // file checked against sha256
// Each model has a manifest <dir>/<name>.json written by scripts/setup.sh from models/*.json:
//   {"name","kind","file","sha256","id","input":{"width","height"},
//    "normalisation":{"scale","mean":[b,g,r],"swap_rb"}, "threshold", "resolution", "source",
//    "precision" (optional, "fp32" when absent)}
// Nothing else in the code base names a model file or a model directory.
// Thread safety: a ModelStore is immutable after construction; share it freely.
#pragma once

#include <array>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vlrface/precision.hpp"

namespace vlrface {

struct Normalisation {
  double scale = 1.0;                  // multiplies (pixel - mean)
  std::array<double, 3> mean{0, 0, 0};  // per channel, in the network's channel order
  bool swap_rb = false;                // true: the network wants RGB
};

struct ModelInfo {
  std::string name;       // manifest key, e.g. "edgeface_xxs"
  std::string kind;       // "embedder", "detector" or "upscaler"
  std::string id;         // stable identity recorded in galleries, e.g. "edgeface_xxs/46be7cc7"
  std::filesystem::path path;  // absolute path of the model file
  std::string sha256;     // of the model file
  int input_width = 0;    // 0: dynamic
  int input_height = 0;
  Normalisation norm;
  // Decision rule, everywhere (matcher, verify, eval, docs): same person iff
  // similarity > threshold (eval.hpp). `threshold` is the full-resolution one (the base path).
  double threshold = 0;
  // Embedders: thresholds calibrated per recovery path and working size, because the same
  // false-accept rate needs a different cosine for a 16 px face through the adapter than for a
  // 112 px face ("thresholds": [{"px": 16, "recovery": "bicubic+adapter", "threshold": 0.3}]).
  // Native faces (a camera's small face, aligned at its own size) and simulated ones (a large
  // face shrunk after alignment) give different impostor similarities, so each has its own
  // ("faces": "native" | "simulated"; absent: simulated).
  struct PathThreshold {
    int px = 0;
    std::string recovery;  // "bicubic", "dsr", "bicubic+adapter", "dsr+adapter"
    double value = 0;
    bool native = false;
  };
  std::vector<PathThreshold> thresholds;
  std::string threshold_source;  // the data and command the thresholds were calibrated with
  int resolution = 0;     // upscalers and per-size adapters: the low resolution they serve
  // Adapters covering a range of sizes (a student trained on 12..40 px faces): the range.
  int min_px = 0, max_px = 0;
  std::string source;     // where it came from (for --help and docs)
  // The precision used when the caller asks for none: the one measured better on the target
  // (docs/BENCHMARKS.md, "Precision"); int8 also needs calibration inputs from the caller.
  Precision precision = Precision::kFp32;
  std::string precision_source;  // where that choice was measured

  // Embedders: how faces smaller than `cutoff_px` are recovered ("recovery": {"cutoff_px",
  // "sizes": {"16": {"upscaler": "bicubic", "adapter": true}}, "source"}); faces at or above
  // the cut-off go to the base model as they are. Chosen on validation data, never on LFW.
  struct RecoveryDefault {
    std::string upscaler;
    bool adapter = false;
  };
  std::map<int, RecoveryDefault> recovery;  // by size; the nearest size applies
  // Simulated faces (simulate mode, --res N) recover best otherwise ("recovery": {"simulated":
  // {"16": {...}}}); empty: `recovery` serves both.
  std::map<int, RecoveryDefault> recovery_simulated;
  int cutoff_px = 0;                        // 0: no recovery in auto mode
  std::string recovery_source;
  // Adapted embedders: the base model whose embedding space (and gallery id) they share.
  std::string base;

  // The calibrated threshold of `recovery` for faces of `px` (the nearest calibrated size of
  // the same kind of face, else of the other kind); `threshold` for the base path ("base", px 0
  // or 112) or a path without calibration.
  double threshold_for(int px, const std::string& recovery = "base", bool native = false) const;
  // The recommended recovery for `px` (the nearest size), if any.
  const RecoveryDefault* recovery_for(int px, bool native = true) const;
};

// The model directory: `cli` when given, else $VLRFACE_MODELS, else the installed default
// (<executable dir>/../share/vlrface/models, which is also where the build tree keeps them).
std::filesystem::path resolve_model_dir(const std::optional<std::filesystem::path>& cli);

// The hint printed when a model is missing: how to get it.
std::string model_setup_hint();

std::string sha256_file(const std::filesystem::path& file);

class ModelStore {
 public:
  // Reads every manifest in `dir`. A missing directory is not an error here: get() reports it.
  explicit ModelStore(std::filesystem::path dir);

  const std::filesystem::path& dir() const { return dir_; }
  bool has(const std::string& name) const;
  // Checks that the file exists and matches its sha256 (a model is loaded once per process, so
  // hashing a few MB each time is cheap); throws Error("models", ...) naming the file and how to
  // get it otherwise.
  const ModelInfo& get(const std::string& name) const;
  // The manifest entry alone, for decisions that load nothing (no file check, no hashing);
  // throws like get() when there is no manifest.
  const ModelInfo& manifest(const std::string& name) const;
  // Names of the models of one kind, sorted.
  std::vector<std::string> names(const std::string& kind) const;
  // The adapted embedder of `embedder` for faces of `px`: one whose size range covers px (a
  // range student before a per-size adapter), else the one whose sizes are nearest; empty when
  // the store has none. Reads manifests only.
  std::string adapter_for(const std::string& embedder, int px) const;
  // The upscaler model (DSR) trained for the size nearest to `px`; empty when none.
  std::string upscaler_for(int px) const;

 private:
  std::filesystem::path dir_;
  std::map<std::string, ModelInfo> models_;
};

// Default model names.
inline constexpr const char* kDefaultEmbedder = "edgeface_xxs";
inline constexpr const char* kDefaultDetector = "yunet";

}  // namespace vlrface
