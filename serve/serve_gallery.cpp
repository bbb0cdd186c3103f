#include "serve_gallery.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

namespace fs = std::filesystem;

namespace vlrface::serve {

GalleryFollower::GalleryFollower(fs::path path, const std::string& model_id)
    : path_(std::move(path)) {
  // A postgresql:// gallery is no file: Gallery itself connects, creates and checks it.
  if (!is_database_gallery(path_.native()) && path_.has_parent_path() &&
      !fs::exists(path_.parent_path())) {
    fs::create_directories(path_.parent_path());
    ::chmod(path_.parent_path().c_str(), 0700);  // biometric data: the owner's alone
  }
  // Refuses another model's gallery now, not per request; then stays open to watch the file.
  watch_.emplace(open(model_id));
}

Gallery GalleryFollower::open(const std::string& model_id) const {
  GallerySettings gs;
  gs.create_if_missing = true;
  return Gallery(path_, model_id, gs);
}

bool GalleryFollower::changed() {
  std::lock_guard lock(mu_);
  if (!watch_) return false;
  try {
    const bool changed = watch_->refresh_if_changed();
    error_.clear();
    return changed;
  } catch (const std::exception& e) {
    if (error_ != e.what()) spdlog::warn("serve: watching the gallery: {}", e.what());
    error_ = e.what();
    return false;
  }
}

}  // namespace vlrface::serve
