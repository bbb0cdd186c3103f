#include "gallery_follower.hpp"

namespace vlrface::live {

GalleryFollower::GalleryFollower(std::filesystem::path gallery, std::string model_id)
    : path_(std::move(gallery)), model_id_(std::move(model_id)) {}

void GalleryFollower::reload() {
  std::lock_guard reload(reload_mu_);
  std::shared_ptr<const Matcher> ready;
  std::string shown;
  try {
    if (open_) {
      open_->refresh_if_changed();  // re-reads the stored model id when the gallery changed
      if (open_->model_id() != model_id_) open_.reset();  // reopening refuses it by name
    }
    if (!open_) open_ = std::make_unique<Gallery>(path_, model_id_);
    shown = open_->file().string();
    ready = sync_.update(*open_).matcher;
  } catch (...) {
    open_.reset();  // the next reload opens (and checks) the gallery afresh
    throw;
  }
  std::lock_guard lk(mu_);
  if (ready == matcher_) return;  // nothing changed
  matcher_ = std::move(ready);
  shown_ = std::move(shown);
  ++version_;
}

std::shared_ptr<const Matcher> GalleryFollower::matcher() const {
  std::lock_guard lk(mu_);
  return matcher_;
}

std::uint64_t GalleryFollower::version() const {
  std::lock_guard lk(mu_);
  return version_;
}

std::string GalleryFollower::shown() const {
  std::lock_guard lk(mu_);
  return shown_;
}

}  // namespace vlrface::live
