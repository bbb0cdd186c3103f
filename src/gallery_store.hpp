// Private to the core: where a Gallery keeps its people. Gallery (gallery.cpp) validates and
// encodes; a GalleryStore stores, in one of two backends: an SQLite file (gallery_sqlite.cpp, one
// box) or a PostgreSQL database (gallery_pg.cpp, a fleet of nodes sharing one gallery). Both keep
// the same rows (float32 little-endian embeddings, JPEG images, a CRC-32 beside each) so that a
// gallery moves between them byte for byte.
//
// Every method that changes something runs in one transaction and increments the gallery's
// revision; errors are Error("gallery", "<where>: <what>") with <where> the file, or the
// database's address without its password.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "vlrface/gallery.hpp"

namespace vlrface::detail {

struct NewFace {
  std::string jpeg;  // the stored image, as is
  std::vector<float> embedding;
  std::string source;
};

struct NewPerson {
  std::string name;
  std::vector<NewFace> faces;
  std::string what;  // starts error messages about this person ("enroll 'bob'")
};

struct InsertOptions {
  // The model the new embeddings come from; the gallery's must be the same...
  std::string model_id;
  // ...unless the gallery has nobody yet: then it takes this model (importing an export into a
  // new gallery keeps the export's model).
  bool adopt_model_if_empty = false;
  // Faces whose embedding (byte for byte) is already stored, for anyone, are left out: what
  // makes importing the same export twice change nothing.
  bool skip_known_faces = false;
};

struct InsertCount {
  int people_created = 0;
  int people_extended = 0;  // existing people who got new faces
  int faces_added = 0;
  int faces_skipped = 0;
};

// What an insert stores, worked out before anything is written, the same way by both back
// ends: every embedding must have the gallery's length (the stored one, else the first new
// one's), and with skip_known_faces an embedding already stored (`known`, the stored blobs) or
// met earlier in this insert is left out. `people` lists only those with a face to store, in
// their order; a person is created with their first stored face, never empty.
struct InsertPlan {
  struct Person {
    const NewPerson* person = nullptr;
    std::vector<std::pair<const NewFace*, std::string>> faces;  // each face, its embedding blob
  };
  std::vector<Person> people;
  int faces_skipped = 0;
  std::string problem;  // non-empty: nothing may be written; the back end fails with it
};
InsertPlan plan_insert(const std::vector<NewPerson>& people, std::optional<std::size_t> dims,
                       std::set<std::string> known, bool skip_known_faces);

struct StoredRow {
  std::int64_t id = 0;
  std::string source;
  std::string jpeg;  // checked against its CRC-32
  std::vector<float> embedding;
};

struct PersonRecord {
  std::string name;
  std::vector<float> template_embedding;
  std::vector<StoredRow> faces;  // by id
};

class GalleryStore {
 public:
  virtual ~GalleryStore() = default;

  // The file, or the database's address without its password: what messages may show.
  virtual const std::filesystem::path& where() const = 0;
  // The model of the stored embeddings (as of opening or the last refresh).
  virtual std::string model_id() const = 0;

  // Creates people when absent; recomputes the templates of everyone touched; all or nothing.
  virtual InsertCount insert(const std::vector<NewPerson>& people, const InsertOptions& o) = 0;
  virtual bool remove_person(const std::string& name) = 0;  // false when unknown
  // Error when `from` is unknown or `to` is taken.
  virtual void rename_person(const std::string& from, const std::string& to) = 0;
  virtual bool has_person(const std::string& name) = 0;
  virtual std::vector<PersonInfo> people() = 0;  // by name
  virtual void for_each_template(const std::function<void(PersonTemplate&&)>& f) = 0;
  virtual std::vector<TemplateVersion> template_versions() = 0;  // by name
  virtual void for_each_template_of(const std::vector<std::string>& names,
                                    const std::function<void(PersonTemplate&&)>& f) = 0;
  virtual std::optional<std::vector<StoredRow>> faces(const std::string& name) = 0;
  virtual std::size_t size() = 0;
  // Every person with their faces, by name, from one consistent snapshot.
  virtual void for_each_person(const std::function<void(PersonRecord&&)>& f) = 0;
  // Replaces the embeddings of the faces in `by_id` (every face of the gallery, as listed by
  // for_each_person), recomputes every template and records `model_id`; refused when the faces
  // changed meanwhile.
  virtual void replace_embeddings(
      const std::vector<std::pair<std::int64_t, std::vector<float>>>& by_id,
      const std::string& model_id) = 0;

  // See Gallery::refresh_if_changed() and Gallery::revision().
  virtual bool refresh_if_changed() = 0;
  virtual std::int64_t revision() = 0;
};

// `file` is an SQLite gallery (created when missing and settings.create_if_missing).
std::unique_ptr<GalleryStore> open_sqlite_store(const std::filesystem::path& file,
                                                const std::string& build_model_id,
                                                const GallerySettings& settings);
// `url` is a postgresql:// connection string; the schema is created or migrated when needed.
std::unique_ptr<GalleryStore> open_postgres_store(const std::string& url,
                                                  const std::string& build_model_id,
                                                  const GallerySettings& settings);

// SQLite's online backup of `store` into the new file `out` (see Gallery::backup); false, and
// nothing done, when `store` is not an SQLite gallery.
bool sqlite_backup(GalleryStore& store, const std::filesystem::path& out);

}  // namespace vlrface::detail
