// The gallery as the server sees it: one Gallery per change or read (SQLite does the locking),
// and one connection kept open only to notice commits, ours and other processes' (the CLI
// enrolling or removing someone while the server runs).
//
// Usage:
//   GalleryFollower g(path, model_id);      // opens (creates) it now: another model's is refused
//   Gallery one = g.open(model_id);          // for one request
//   if (g.changed()) engine->reload_gallery();   // housekeeping, every second
// Thread safety: every public method may be called from any thread.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include "vlrface/gallery.hpp"

namespace vlrface::serve {

class GalleryFollower {
 public:
  // A file gallery whose folder is missing gets one that only its owner can enter (biometric
  // data). Error("gallery", ...) when the gallery holds another model's embeddings or cannot be
  // opened.
  GalleryFollower(std::filesystem::path path, const std::string& model_id);

  const std::filesystem::path& path() const { return path_; }
  // Opens the gallery for one change or read, creating it when it went missing.
  Gallery open(const std::string& model_id) const;
  // Whether the gallery changed since the last call (PRAGMA data_version, cheap). A failure is
  // logged once (until it changes) and reads as "no change".
  bool changed();

 private:
  std::filesystem::path path_;
  std::mutex mu_;
  std::optional<Gallery> watch_;
  std::string error_;  // the last failure logged
};

}  // namespace vlrface::serve
