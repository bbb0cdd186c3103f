// Private to the gallery's SQLite backend: the file's schema -- created for a new gallery,
// checked when an existing one is opened (application id, meta table, format, version and every
// row's checksum), and schema 1 upgraded in place.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace vlrface::detail::sqlite {

std::int64_t pragma(sqlite3* db, const std::filesystem::path& file, const char* name);

// The tables and meta rows of a new gallery of `build_model_id`, in one transaction.
void create_schema(sqlite3* db, const std::filesystem::path& file,
                   const std::string& build_model_id);

struct ExistingSchema {
  std::int64_t version = 0;  // below kGallerySchemaVersion: upgrade_from_1() before use
  std::string model_id;
};
// An existing file checked before anything is trusted or written: Error("gallery", ...) when it
// is not a vlrface gallery, is of a newer schema, or is damaged (with what is still readable).
// Its statements are finished on return (VACUUM, in the upgrade, refuses to run beside them).
ExistingSchema check_existing(sqlite3* db, const std::filesystem::path& file);

// Schema 1 -> 2: the checksums, computed from the rows as they are now.
void upgrade_from_1(sqlite3* db, const std::filesystem::path& file);

// Error("gallery", ...) when `version` is newer than this build reads.
void check_schema_version(const std::filesystem::path& file, std::int64_t version);

}  // namespace vlrface::detail::sqlite
