#include "gallery_sqlite_schema.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <utility>
#include <vector>

#include "gallery_check.hpp"
#include "gallery_common.hpp"
#include "gallery_sqlite_db.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"

namespace vlrface::detail::sqlite {
namespace {

namespace fs = std::filesystem;

constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw Error("gallery", file.string() + ": " + what);
}

void exec(sqlite3* db, const fs::path& file, const std::string& query) {
  exec_sql(db, file, query.c_str());
}

// SQLite's structural check and every row's checksum and length: check_gallery() without the
// report.
void check_integrity(sqlite3* db, const fs::path& file) {
  GalleryCheck report;
  report.problems = sqlite_integrity(db, 10);
  check_rows(db, report);
  if (report.clean()) return;
  std::string what = report.problems.front();
  if (report.problems.size() > 1) {
    what += "; " + std::to_string(report.problems.size() - 1) + " more";
  }
  fail(file, "damaged: " + what + " (" + readable_summary(report) + ")");
}

}  // namespace

std::int64_t pragma(sqlite3* db, const fs::path& file, const char* name) {
  Statement q(db, file, std::string("PRAGMA ") + name);
  return q.step() ? q.integer(0) : 0;
}

void check_schema_version(const fs::path& file, std::int64_t version) {
  if (version > kGallerySchemaVersion) {
    fail(file, newer_schema_message(version, kGallerySchemaVersion));
  }
}

void create_schema(sqlite3* db, const fs::path& file, const std::string& build_model_id) {
  Transaction t(db, file, true);
  exec(db, file, "PRAGMA application_id = " + std::to_string(kGalleryApplicationId));
  exec(db, file, "PRAGMA user_version = " + std::to_string(kGallerySchemaVersion));
  exec(db, file, R"sql(
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
                        template BLOB NOT NULL, created_at TEXT, template_crc INTEGER);
    CREATE TABLE faces(id INTEGER PRIMARY KEY,
                       person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
                       image BLOB NOT NULL, embedding BLOB NOT NULL,
                       source TEXT, created_at TEXT,
                       embedding_crc INTEGER, image_crc INTEGER);
    -- Without it every per-person lookup and cascading delete scans all faces.
    CREATE INDEX faces_person ON faces(person_id);
  )sql");
  Statement put(db, file, "INSERT INTO meta(key, value) VALUES (?, ?)");
  const std::pair<const char*, std::string> rows[] = {
      {"format", "vlrface-gallery"},
      {"schema_version", std::to_string(kGallerySchemaVersion)},
      {"model_id", build_model_id}};
  for (const auto& [key, value] : rows) {
    put.reset().bind(1, std::string_view(key)).bind(2, value).step();
  }
  exec(db, file, std::string("INSERT INTO meta(key, value) VALUES ('created_at', ") + kNow + ")");
  t.commit();
}

ExistingSchema check_existing(sqlite3* db, const fs::path& file) {
  const std::string not_gallery = "is not a vlrface gallery (";
  // Reading the header first is what makes SQLite notice a damaged or truncated file.
  const std::int64_t app_id = pragma(db, file, "application_id");
  const std::int64_t user_version = pragma(db, file, "user_version");
  if (app_id != kGalleryApplicationId) {
    fail(file, not_gallery + "an SQLite database of another program)");
  }
  std::map<std::string, std::string> meta;
  {
    Statement has_meta(db, file,
                       "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
    if (!has_meta.step()) fail(file, not_gallery + "no meta table)");
    Statement rows(db, file, "SELECT key, value FROM meta");
    while (rows.step()) meta[rows.text(0)] = rows.text(1);
  }
  if (meta["format"] != "vlrface-gallery") {
    fail(file, not_gallery + "format is '" + printable(meta["format"]) + "')");
  }
  const std::string& v = meta["schema_version"];
  ExistingSchema out;
  if (std::from_chars(v.data(), v.data() + v.size(), out.version).ec != std::errc()) {
    fail(file, not_gallery + "schema_version '" + printable(v) + "')");
  }
  // Either marker being newer means a newer vlrface touched the file.
  out.version = std::max(out.version, user_version);
  check_schema_version(file, out.version);
  if (out.version < 1) {
    fail(file, not_gallery + "schema version " + std::to_string(out.version) + ")");
  }
  // Before anything is trusted or written: a damaged gallery is refused with what is still
  // readable, never read as if nothing were wrong (every person "unknown").
  check_integrity(db, file);
  out.model_id = meta["model_id"];
  if (out.model_id.empty()) fail(file, not_gallery + "no model_id)");
  return out;
}

// check_existing() has just checked the rows as far as version 1 allows (structure and lengths).
void upgrade_from_1(sqlite3* db, const fs::path& file) {
  // Removals made before secure_delete was on may have left people's bytes in free pages:
  // VACUUM rewrites the file without them, once, before the upgrade.
  exec(db, file, "VACUUM");
  Transaction t(db, file, true);
  {
    // Another process may have upgraded it while this one waited for the lock.
    Statement q(db, file, "SELECT value FROM meta WHERE key = 'schema_version'");
    if (q.step() && q.text(0) != "1") return;
  }
  exec(db, file, "ALTER TABLE people ADD COLUMN template_crc INTEGER");
  exec(db, file, "ALTER TABLE faces ADD COLUMN embedding_crc INTEGER");
  exec(db, file, "ALTER TABLE faces ADD COLUMN image_crc INTEGER");
  // Computed first, written after: updating rows of a table while a SELECT walks it is not well
  // defined in SQLite.
  std::vector<std::array<std::int64_t, 3>> rows;
  {
    Statement q(db, file, "SELECT id, template FROM people");
    while (q.step()) rows.push_back({q.integer(0), crc_of(q.blob(1)), 0});
  }
  Statement put_template(db, file, "UPDATE people SET template_crc = ? WHERE id = ?");
  for (const auto& [id, crc, unused] : rows) put_template.reset().bind(1, crc).bind(2, id).step();
  rows.clear();
  {
    Statement q(db, file, "SELECT id, embedding, image FROM faces");
    while (q.step()) rows.push_back({q.integer(0), crc_of(q.blob(1)), crc_of(q.blob(2))});
  }
  Statement put_face(db, file, "UPDATE faces SET embedding_crc = ?, image_crc = ? WHERE id = ?");
  for (const auto& [id, embedding, image] : rows) {
    put_face.reset().bind(1, embedding).bind(2, image).bind(3, id).step();
  }
  exec(db, file, "UPDATE meta SET value = '2' WHERE key = 'schema_version'");
  exec(db, file, "PRAGMA user_version = 2");
  t.commit();
}

}  // namespace vlrface::detail::sqlite
