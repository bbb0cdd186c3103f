// vlrface/gallery.hpp — enrolled people, their face images and embeddings, in one SQLite file.
//
// Usage:
//   vlrface::Gallery g("people.vlrg", "edgeface_xxs/46be7cc7");   // creates the file (mode 0600)
//   g.enroll("alice", {{aligned112, embedding}});                   // one transaction
//   for (const auto& t : g.templates()) ...                          // mean template per person
// On open the schema version and the embedding model id are checked: a gallery written by a
// newer schema, or by another embedding model, is refused with an Error that says so (a gallery of
// another model can be opened with GalleryOpen::kAllowModelMismatch and re-embedded from its
// stored images with reembed()). Every change runs in one transaction, so a crash never leaves a
// half-enrolled person.
// Thread safety: one Gallery per thread; separate Gallery objects on the same file are safe
// (SQLite locking).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace vlrface {

inline constexpr int kGallerySchemaVersion = 1;

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

struct PersonInfo {
  std::int64_t id = 0;
  std::string name;
  int num_faces = 0;
};

struct PersonTemplate {
  std::string name;
  std::vector<float> embedding;  // L2-normalised mean of the person's L2-normalised embeddings
};

struct StoredFace {
  std::int64_t id = 0;
  std::string person;
  cv::Mat aligned;  // decoded 112x112 BGR
  std::vector<float> embedding;
  std::string source;
};

// Throws Error("gallery", ...) for an empty name, one longer than 128 bytes, one with '/', '\\',
// control characters or leading/trailing spaces, and "." or "..".
void validate_person_name(const std::string& name);

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
  void remove_person(const std::string& name);  // Error if unknown
  void rename_person(const std::string& from, const std::string& to);  // Error if unknown/taken
  bool has_person(const std::string& name) const;

  std::vector<PersonInfo> people() const;           // sorted by name
  std::vector<PersonTemplate> templates() const;    // sorted by name
  // The same, one person at a time, without holding them all (a matcher built row by row).
  void for_each_template(const std::function<void(PersonTemplate&&)>& f) const;
  std::vector<StoredFace> faces(const std::string& name) const;  // Error if unknown
  std::size_t size() const;                          // number of people

  // Recomputes every stored embedding from its stored image with `embed`, recomputes the
  // templates and records `new_model_id`; one transaction.
  void reembed(const std::function<std::vector<float>(const cv::Mat&)>& embed,
               const std::string& new_model_id);

  // JSON export: {"format":"vlrface-gallery-export","version":1,"model_id":...,"people":[{"name",
  // "template":[...],"faces":[{"source","embedding":[...],"image_jpeg_base64"}]}]}.
  void export_json(const std::filesystem::path& out) const;

  // Imports the reference app's gallery.json ({"people":[{"name","image_paths":[relative to the
  // json's folder],"embedding":[...]}]}): its embeddings come from another model, so each image is
  // loaded, resized to 112x112 when needed, and re-embedded with `embed`. All or nothing: one
  // transaction. Returns the number of people imported.
  int import_reference(const std::filesystem::path& gallery_json,
                       const std::function<std::vector<float>(const cv::Mat&)>& embed);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlrface
