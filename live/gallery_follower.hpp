#pragma once
// The live engine's view of its gallery: a Matcher swapped whole on reload, so a frame in
// flight keeps a consistent one, and built beside the old one from what changed since the last
// reload (MatcherSync), never from the whole gallery again.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "vlrface/gallery.hpp"
#include "vlrface/match.hpp"
#include "vlrface/matcher_sync.hpp"

namespace vlrface::live {

class GalleryFollower {
 public:
  // Reads nothing yet: call reload() (the engine does, before it loads the networks).
  GalleryFollower(std::filesystem::path gallery, std::string model_id);

  // Brings the matcher up to the gallery. Reloads run one at a time (housekeeping and request
  // threads both reload), so the last to read the gallery is the last to swap. Throws what the
  // gallery throws (Error("gallery", ...): unreadable, damaged, another model's); the matcher in
  // use then stays as it was. A gallery re-embedded by another model meanwhile is refused by
  // name.
  void reload();

  std::shared_ptr<const Matcher> matcher() const;
  // Counts the swaps: a change says votes and settings made for the old matcher are stale.
  std::uint64_t version() const;
  // The gallery for messages: its path, or a database URL without its password (empty before
  // the first reload: the path given may hold a password).
  std::string shown() const;

 private:
  const std::filesystem::path path_;
  const std::string model_id_;

  mutable std::mutex mu_;  // the three below
  std::shared_ptr<const Matcher> matcher_;
  std::uint64_t version_ = 0;
  std::string shown_;

  std::mutex reload_mu_;  // the two below
  MatcherSync sync_;
  // Kept open between reloads: opening checks the whole gallery (every row's checksum: seconds
  // at 100,000 people), which a reload for one enrolment must not repeat.
  std::unique_ptr<Gallery> open_;
};

}  // namespace vlrface::live
