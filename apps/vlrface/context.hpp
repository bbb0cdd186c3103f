// What every subcommand of the vlrface CLI shares: global options, models, gallery, inputs.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vlrface/gallery.hpp"
#include "vlrface/models.hpp"
#include "vlrface/pipeline.hpp"

namespace vlrface::cli {

struct GlobalOptions {
  std::string gallery;  // empty: default_gallery_path()
  std::string models;   // empty: resolve_model_dir's default
  std::string embedder = kDefaultEmbedder;
  int threads = 1;
  bool verbose = false;
  bool quiet = false;  // no progress display
};

std::filesystem::path default_gallery_path();

class Context {
 public:
  explicit Context(const GlobalOptions& options);
  const ModelStore& store() const { return store_; }
  const ModelInfo& embedder_info() const;
  std::filesystem::path gallery_path() const;
  // Opens (creating when `create`) the gallery for the active embedding model.
  Gallery open_gallery(bool create, GalleryOpen mode = GalleryOpen::kStrict) const;
  // adapter: "auto", "on" or "off".
  // Warns (once per Context) when the Haar fallback will replace a missing YuNet.
  Pipeline make_pipeline(int resolution, const std::string& upscaler,
                         const std::string& adapter = "off", double detect_upsample = 1) const;
  // Says once, on stderr, that the Haar fallback detector replaces YuNet, naming the missing
  // manifest; nothing when YuNet is there.
  void warn_if_detector_fallback() const;
  const GlobalOptions& options() const { return options_; }

 private:
  GlobalOptions options_;
  ModelStore store_;
  mutable bool fallback_warned_ = false;
};

// Files named on the command line, with directories expanded to the images they hold (sorted;
// `recursive`: with their sub-folders, hidden ones excepted). A directory without images is an
// Error naming it (one whose sub-folders hold images points to enroll --from-folders).
std::vector<std::filesystem::path> expand_inputs(const std::vector<std::string>& args,
                                                 bool recursive = false);

}  // namespace vlrface::cli
