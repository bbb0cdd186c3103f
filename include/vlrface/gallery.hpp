// vlrface/gallery.hpp — enrolled people, their face images and embeddings: one SQLite file, or
// a PostgreSQL database shared by several nodes.
//
// Usage:
//   vlrface::Gallery g("people.vlrg", "edgeface_xxs/46be7cc7");   // creates the file (mode 0600)
//   vlrface::Gallery g("postgresql://cam@db.local/vlrface?sslmode=verify-full", model_id);
//   g.enroll("alice", {{aligned112, embedding}});                   // one transaction
//   for (const auto& t : g.templates()) ...                          // mean template per person
// Where the gallery lives is decided by the string alone: one that starts with postgresql:// (or
// postgres://) is a libpq connection URI, anything else a file. Both backends hold the same rows
// and offer the same operations; `copy_gallery` moves a gallery between them.
// On open the schema version and the embedding model id are checked: a gallery written by a
// newer schema, or by another embedding model, is refused with an Error that says so (a gallery of
// another model can be opened with GalleryOpen::kAllowModelMismatch and re-embedded from its
// stored images with reembed()). Every change runs in one transaction, so a crash never leaves a
// half-enrolled person, and increments the gallery's revision().
// Integrity: every stored embedding, template and face image carries its CRC-32. Opening checks
// the file (PRAGMA integrity_check) and every row's checksum and length, so a damaged gallery
// fails with Error("gallery", "<file>: damaged: ... (N of M people readable; ...)") instead of
// quietly matching nobody; data read later is checked again as it is loaded. check_gallery()
// reports what is damaged without opening the gallery for use.
// Another process's changes: refresh_if_changed() says (cheaply) whether the gallery changed since
// this object last looked, for holders of long-lived copies of its data (the live view); on
// PostgreSQL it follows LISTEN/NOTIFY and reconnects after the server went away.
// A database password never appears in file(), in messages or in logs.
// Thread safety: one Gallery per thread; separate Gallery objects on the same gallery are safe
// (SQLite locking; PostgreSQL transactions).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace vlrface {

// 2: CRC-32 columns beside every embedding, template and image (version 1 galleries are
// upgraded in place when opened).
inline constexpr int kGallerySchemaVersion = 2;

struct GallerySettings {
  // A gallery that does not exist yet is created, unless this is false (then opening fails).
  bool create_if_missing = true;
  // JPEG quality for the stored 112x112 face images.
  int jpeg_quality = 95;
};

enum class GalleryOpen { kStrict, kAllowModelMismatch };

struct EnrollFace {
  cv::Mat aligned;               // 112x112 BGR 8-bit
  std::vector<float> embedding;  // any length, same for every face of the gallery
  std::string source;            // where it came from (file name), informational
};

// One person's faces for Gallery::enroll_many().
struct Enrolment {
  std::string name;
  std::vector<EnrollFace> faces;
};

struct PersonInfo {
  std::int64_t id = 0;
  std::string name;
  int num_faces = 0;
};

struct PersonTemplate {
  std::string name;
  std::vector<float> embedding;  // L2-normalised mean of the person's L2-normalised embeddings
  std::int64_t version = 0;      // the template's stored checksum: changes whenever it does
};

// A person's name and template version (PersonTemplate::version), without the template.
struct TemplateVersion {
  std::string name;
  std::int64_t version = 0;
};

struct StoredFace {
  std::int64_t id = 0;
  std::string person;
  cv::Mat aligned;  // decoded 112x112 BGR
  std::vector<float> embedding;
  std::string source;
};

// What check_gallery() found. Clean when `problems` is empty.
struct GalleryCheck {
  int schema_version = 0;
  std::string model_id;
  // One line per damaged thing: SQLite's own integrity_check lines, then rows whose checksum or
  // length is wrong ("face #12 of 'bob': the embedding fails its checksum").
  std::vector<std::string> problems;
  std::vector<std::string> readable;  // people whose template and every face are intact
  std::vector<std::string> damaged;   // people with at least one damaged row
  std::size_t people_total = 0;       // people rows SQLite could list
  bool clean() const { return problems.empty(); }
};

// The full check, on demand (`vlrface gallery check`): PRAGMA integrity_check plus every row's
// checksum and length. Opens the file read-only and never writes to it, so it also works on a
// gallery that refuses to open. Throws Error("gallery", ...) only when the file is missing or is
// no vlrface gallery at all; damage is reported, not thrown.
GalleryCheck check_gallery(const std::filesystem::path& file);

// CRC-32 (the zlib/PNG polynomial, as Python's zlib.crc32) of `bytes`: what the gallery stores
// beside each blob.
std::uint32_t gallery_crc32(std::string_view bytes);

// Throws Error("gallery", ...) for an empty name, one longer than 128 bytes, one with '/', '\\',
// control characters or leading/trailing spaces, and "." or "..".
void validate_person_name(const std::string& name);

// True when `location` names a PostgreSQL gallery (postgresql:// or postgres://) rather than a
// file.
bool is_database_gallery(std::string_view location);

// Computes a face's embedding from its aligned 112x112 BGR image.
using FaceEmbedder = std::function<std::vector<float>(const cv::Mat&)>;

// What import_json() did. Importing the same export twice adds nothing the second time: faces
// whose embedding is already stored (bit for bit, for anyone) are skipped and counted.
struct GalleryImport {
  bool reference = false;  // the reference app's gallery.json (re-embedded), not an export
  std::string model_id;    // the model of the imported embeddings
  int people = 0;          // people who got at least one face
  int people_created = 0;  // of which new
  int faces_added = 0;
  int faces_skipped = 0;  // already in the gallery
};

class Gallery;

// Copies every person, face image and embedding of the gallery `from` into `to` (a file or a
// postgresql:// URL), created when missing; `to` must have nobody in it yet. Keeps the model id.
// Returns the number of people copied.
int copy_gallery(const std::string& from, const std::string& to);

class Gallery {
 public:
  Gallery(const std::filesystem::path& file, const std::string& model_id,
          GallerySettings settings = {}, GalleryOpen open = GalleryOpen::kStrict);
  ~Gallery();
  Gallery(Gallery&&) noexcept;
  Gallery& operator=(Gallery&&) noexcept;
  Gallery(const Gallery&) = delete;
  Gallery& operator=(const Gallery&) = delete;

  const std::filesystem::path& file() const;
  // The embedding model the stored embeddings come from.
  std::string model_id() const;

  // Adds the faces to the person, creating the person when absent; one transaction.
  void enroll(const std::string& name, const std::vector<EnrollFace>& faces);
  // enroll() for many people in ONE transaction: all of them or none (a bad face, a bad or
  // repeated name fails the whole batch, naming the person). Bulk loading: one commit instead of
  // one per person (on PostgreSQL a commit waits for the server's disk flush).
  void enroll_many(const std::vector<Enrolment>& people);
  void remove_person(const std::string& name);                         // Error if unknown
  void rename_person(const std::string& from, const std::string& to);  // Error if unknown/taken
  bool has_person(const std::string& name) const;

  std::vector<PersonInfo> people() const;         // sorted by name
  std::vector<PersonTemplate> templates() const;  // sorted by name
  // The same, one person at a time, without holding them all (a matcher built row by row).
  void for_each_template(const std::function<void(PersonTemplate&&)>& f) const;
  // Every person's template version, by name: the cheap half of following a gallery (a holder
  // of templates compares them with the versions it has and reads only what changed, below).
  std::vector<TemplateVersion> template_versions() const;
  // The templates of `names` (each read with its version); names not in the gallery are left out.
  void for_each_template_of(const std::vector<std::string>& names,
                            const std::function<void(PersonTemplate&&)>& f) const;
  std::vector<StoredFace> faces(const std::string& name) const;  // Error if unknown
  std::size_t size() const;                                      // number of people

  // True when another connection -- another Gallery object, another process such as the CLI --
  // committed a change to the file since the last call (or since opening); then also re-reads
  // the model id. Changes made through this object do not count. Cheap (PRAGMA data_version: a
  // shared lock and a header read), so a long-lived holder of templates can poll it every
  // second and reload only when it says so.
  bool refresh_if_changed();

  // A counter that every change to the gallery increments (whoever made it). Reads it from the
  // gallery: one query.
  std::int64_t revision() const;

  // Copies the gallery with SQLite's online backup API (a consistent snapshot, even while other
  // processes use it) into the new file `out`, created owner-only (0600); refuses an `out` that
  // exists, whatever it is. The copy is checked with check_gallery() before this returns.
  // A PostgreSQL gallery is backed up the same way, into a new SQLite file (one snapshot).
  void backup(const std::filesystem::path& out) const;

  // Recomputes every stored embedding from its stored image with `embed`, recomputes the
  // templates and records `new_model_id`; one transaction.
  void reembed(const std::function<std::vector<float>(const cv::Mat&)>& embed,
               const std::string& new_model_id);

  // JSON export: {"format":"vlrface-gallery-export","version":1,"model_id":...,"people":[{"name",
  // "template":[...],"faces":[{"source","embedding":[...],"image_jpeg_base64"}]}]}. Written to a
  // temporary file beside `out` (0600) and renamed over it; an `out` that exists and is not a
  // regular file (a symbolic link, FIFO, device, directory, socket) is refused, never replaced.
  void export_json(const std::filesystem::path& out) const;
  // The same document, written to `out` (`gallery export -`: standard output).
  void export_json(std::ostream& out) const;

  // Imports a document read from `in` (`name` says where it came from, in messages):
  //  - a `gallery export` (format "vlrface-gallery-export"): people, faces, images and embeddings
  //    as they are, templates recomputed. Its model must be the gallery's, unless the gallery has
  //    nobody yet: then the gallery takes the export's model. Faces already present are skipped,
  //    so importing the same export again changes nothing;
  //  - the reference app's gallery.json: as import_reference(), images relative to `image_dir`,
  //    embedded with make_embedder() (called only for this format).
  // All or nothing: one transaction.
  GalleryImport import_json(std::istream& in, const std::string& name,
                            const std::filesystem::path& image_dir,
                            const std::function<FaceEmbedder()>& make_embedder);

  // Imports the reference app's gallery.json ({"people":[{"name","image_paths":[relative to the
  // json's folder],"embedding":[...]}]}): its embeddings come from another model, so each image is
  // loaded, resized to 112x112 when needed, and re-embedded with `embed`. All or nothing: one
  // transaction. Returns the number of people imported.
  int import_reference(const std::filesystem::path& gallery_json,
                       const std::function<std::vector<float>(const cv::Mat&)>& embed);

 private:
  friend struct GalleryInternals;  // the core's own gallery files reach the backend through it
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlrface
