// Private to the core: what a Gallery holds, shared by the files that implement its parts
// (gallery.cpp: opening and people; gallery_export.cpp: JSON export/import and copies;
// gallery_reembed.cpp: re-embedding).
#pragma once

#include <memory>
#include <string>

#include "gallery_store.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"

namespace vlrface {

struct Gallery::Impl {
  std::unique_ptr<detail::GalleryStore> store;
  std::string build_model_id;  // the model of the caller's embeddings
  GallerySettings settings;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("gallery", store->where().string() + ": " + what);
  }
  // Mixing embeddings of two models in one gallery would make every match meaningless.
  void require_own_model(const std::string& action) const;
  // Checks and encodes one face for storage; `what` starts error messages.
  detail::NewFace prepare(const EnrollFace& face, const std::string& what) const;
};

struct GalleryInternals {
  static detail::GalleryStore& store(const Gallery& g) { return *g.impl_->store; }
};

namespace detail {
// Copies everything in `from` into the gallery at `to` (created when missing; must have nobody
// yet); a file created here is removed again when the copy fails. Returns the people copied.
int copy_store(GalleryStore& from, const std::string& to);
}  // namespace detail

}  // namespace vlrface
