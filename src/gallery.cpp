// Gallery: opening (SQLite file or PostgreSQL database, by the location's form), checking what
// callers give, and the everyday operations on people. Storage is the backends'
// (gallery_store.hpp); export/import is gallery_export.cpp; re-embedding gallery_reembed.cpp.
#include "vlrface/gallery.hpp"

#include <opencv2/core.hpp>
#include <set>
#include <utility>

#include "gallery_check.hpp"
#include "gallery_common.hpp"
#include "gallery_impl.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface {

namespace fs = std::filesystem;
using detail::printable;

void validate_person_name(const std::string& name) {
  if (const auto problem = detail::person_name_problem(name)) throw Error("gallery", *problem);
}

bool is_database_gallery(std::string_view location) {
  return detail::is_postgres_url(location);
}

void Gallery::Impl::require_own_model(const std::string& action) const {
  const std::string stored = store->model_id();
  if (stored != build_model_id) {
    fail("cannot " + action + " it: it holds embeddings of model '" + printable(stored) +
         "', the new ones come from '" + printable(build_model_id) +
         "'; re-embed it first with `vlrface gallery reembed`");
  }
}

detail::NewFace Gallery::Impl::prepare(const EnrollFace& face, const std::string& what) const {
  const cv::Mat& img = face.aligned;
  const int size = detail::kGalleryFaceSize;
  if (img.rows != size || img.cols != size || img.type() != CV_8UC3) {
    fail(what + ": the aligned image is " + std::to_string(img.cols) + "x" +
         std::to_string(img.rows) + " " + cv::typeToString(img.type()) +
         ", expected 112x112 CV_8UC3 (8-bit BGR)");
  }
  if (const auto problem = detail::embedding_problem(face.embedding)) fail(what + ": " + *problem);
  const std::vector<std::uint8_t> jpeg = encode_jpeg(img, settings.jpeg_quality);
  return {std::string(jpeg.begin(), jpeg.end()), face.embedding, face.source};
}

Gallery::Gallery(const fs::path& file, const std::string& model_id, GallerySettings settings,
                 GalleryOpen open)
    : impl_(std::make_unique<Impl>()) {
  Impl& g = *impl_;
  g.build_model_id = model_id;
  g.settings = settings;
  const std::string& location = file.native();
  const bool database = detail::is_postgres_url(location);
  // Before anything is opened, and without the location: a URL may hold a password.
  const std::string shown = database ? std::string("the gallery database") : location;
  if (settings.jpeg_quality < 1 || settings.jpeg_quality > 100) {
    throw Error("gallery", shown + ": JPEG quality " + std::to_string(settings.jpeg_quality) +
                               " is outside 1..100");
  }
  if (model_id.empty()) throw Error("gallery", shown + ": the embedding model id is empty");
  g.store = database ? detail::open_postgres_store(location, model_id, settings)
                     : detail::open_sqlite_store(file, model_id, settings);
  const std::string stored = g.store->model_id();
  if (stored != model_id && open == GalleryOpen::kStrict) {
    g.fail("made by embedding model '" + printable(stored) + "', this build uses '" +
           printable(model_id) + "'; re-embed it with `vlrface gallery reembed`");
  }
}

Gallery::~Gallery() = default;
Gallery::Gallery(Gallery&&) noexcept = default;
Gallery& Gallery::operator=(Gallery&&) noexcept = default;

const fs::path& Gallery::file() const {
  return impl_->store->where();
}

std::string Gallery::model_id() const {
  return impl_->store->model_id();
}

void Gallery::enroll(const std::string& name, const std::vector<EnrollFace>& faces) {
  enroll_many({{name, faces}});
}

void Gallery::enroll_many(const std::vector<Enrolment>& people) {
  Impl& g = *impl_;
  g.require_own_model("enroll into");
  // Validated and encoded before the transaction, so the write lock is held only for the inserts.
  std::vector<detail::NewPerson> batch;
  batch.reserve(people.size());
  std::set<std::string> names;
  for (const Enrolment& e : people) {
    if (const auto problem = detail::person_name_problem(e.name)) {
      g.fail("cannot enroll: " + *problem);
    }
    const std::string what = "enroll '" + printable(e.name) + "'";
    if (!names.insert(e.name).second) g.fail(what + ": the name appears twice in one batch");
    if (e.faces.empty()) g.fail(what + ": no faces given");
    detail::NewPerson person{e.name, {}, what};
    person.faces.reserve(e.faces.size());
    for (std::size_t i = 0; i < e.faces.size(); ++i) {
      person.faces.push_back(g.prepare(e.faces[i], what + ": face " + std::to_string(i + 1)));
    }
    batch.push_back(std::move(person));
  }
  if (batch.empty()) return;
  g.store->insert(batch, {g.build_model_id, false, false});
}

void Gallery::remove_person(const std::string& name) {
  if (!impl_->store->remove_person(name)) {
    impl_->fail("cannot remove: no person named '" + printable(name) + "'");
  }
}

void Gallery::rename_person(const std::string& from, const std::string& to) {
  Impl& g = *impl_;
  if (const auto problem = detail::person_name_problem(to)) g.fail("cannot rename: " + *problem);
  g.store->rename_person(from, to);
}

bool Gallery::has_person(const std::string& name) const {
  return impl_->store->has_person(name);
}

std::vector<PersonInfo> Gallery::people() const {
  return impl_->store->people();
}

std::vector<PersonTemplate> Gallery::templates() const {
  std::vector<PersonTemplate> out;
  for_each_template([&](PersonTemplate&& t) { out.push_back(std::move(t)); });
  return out;
}

std::vector<TemplateVersion> Gallery::template_versions() const {
  return impl_->store->template_versions();
}

void Gallery::for_each_template_of(const std::vector<std::string>& names,
                                   const std::function<void(PersonTemplate&&)>& f) const {
  impl_->store->for_each_template_of(names, f);
}

void Gallery::for_each_template(const std::function<void(PersonTemplate&&)>& f) const {
  impl_->store->for_each_template(f);
}

std::vector<StoredFace> Gallery::faces(const std::string& name) const {
  const Impl& g = *impl_;
  auto rows = g.store->faces(name);
  if (!rows) g.fail("no person named '" + printable(name) + "'");
  std::vector<StoredFace> out;
  out.reserve(rows->size());
  for (auto& r : *rows) {
    StoredFace f;
    f.id = r.id;
    f.person = name;
    const std::string what = "face #" + std::to_string(f.id) + " of '" + printable(name) + "'";
    try {
      f.aligned = decode_image(std::vector<std::uint8_t>(r.jpeg.begin(), r.jpeg.end()), what);
    } catch (const Error& e) {
      g.fail(std::string("is damaged (") + e.what() + ")");
    }
    f.embedding = std::move(r.embedding);
    f.source = std::move(r.source);
    out.push_back(std::move(f));
  }
  return out;
}

std::size_t Gallery::size() const {
  return impl_->store->size();
}

bool Gallery::refresh_if_changed() {
  return impl_->store->refresh_if_changed();
}

std::int64_t Gallery::revision() const {
  return impl_->store->revision();
}

}  // namespace vlrface
