// Private to the core: the gallery's integrity checks, shared by Gallery (when a gallery is opened
// and as its rows are loaded) and check_gallery() (on demand). Raw SQLite calls that report
// damage instead of throwing, so that a damaged file can still be described.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vlrface/gallery.hpp"

namespace vlrface::detail {

inline constexpr std::int64_t kGalleryApplicationId = 0x564C5247;  // "VLRG": `file` shows it

// `s` with control bytes as \xNN: names end up in error messages and terminals.
std::string printable(std::string_view s);

// SQLite's structural check, PRAGMA integrity_check. Not quick_check: integrity_check also
// compares every index with its table, which is what notices a changed byte in a name (the
// UNIQUE index) or in a face's person (faces_person), neither of which has a checksum; on this
// schema it costs no more than quick_check (~0.3 s for a 290 MB gallery of 10,000 people with
// three faces each, measured). Empty when SQLite says "ok", else its lines (at most
// `max_lines`), or the error that stopped it.
std::vector<std::string> sqlite_integrity(sqlite3* db, int max_lines);

// Walks every person and face row of `db` and verifies each blob against its CRC-32 (schema 2;
// a version-1 gallery has none, so only lengths are checked) and every embedding's and
// template's length against the gallery's. Adds what it finds to `report` (problems, readable,
// damaged, people_total); never throws.
void check_rows(sqlite3* db, GalleryCheck& report);

// For error messages: "3 of 4 people readable; run 'vlrface gallery check' ...", from a report
// or from check_rows() on `db`. Never throws.
std::string readable_summary(const GalleryCheck& report);
std::string readable_summary(sqlite3* db);

// The application id in `db`'s header, or -1 when it cannot be read.
std::int64_t application_id(sqlite3* db);

}  // namespace vlrface::detail
