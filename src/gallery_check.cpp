// The gallery's integrity checks: CRC-32 of the stored blobs, SQLite's own structural check, and
// check_gallery() which combines them into a report. Declared in gallery_check.hpp (private) and
// gallery.hpp (check_gallery, gallery_crc32).
#include "gallery_check.hpp"
#include "gallery_common.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>
#include <utility>

#include "vlrface/error.hpp"

namespace vlrface {
namespace detail {
namespace {

namespace fs = std::filesystem;

constexpr int kBusyTimeoutMs = 5000;
constexpr int kMaxReportedLines = 100;

// A prepared statement that remembers why it stopped instead of throwing: the check must go on
// past a table it cannot read, and describe the rest.
class Query {
 public:
  Query(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    if (rc_ != SQLITE_OK) error_ = sqlite3_errmsg(db);
  }
  ~Query() { sqlite3_finalize(stmt_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  // True while a row is available; false at the end or on an error (then failed()).
  bool row() {
    if (stmt_ == nullptr) return false;
    rc_ = sqlite3_step(stmt_);
    if (rc_ == SQLITE_ROW) return true;
    if (rc_ != SQLITE_DONE) error_ = sqlite3_errmsg(db_);
    return false;
  }
  bool failed() const { return rc_ != SQLITE_OK && rc_ != SQLITE_ROW && rc_ != SQLITE_DONE; }
  const std::string& error() const { return error_; }
  sqlite3_stmt* get() const { return stmt_; }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p != nullptr ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
  std::string error_;
};

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

std::int64_t pragma_value(sqlite3* db, const char* sql) {
  Query q(db, sql);
  return q.row() ? q.integer(0) : -1;
}

// Schema 1 galleries have no checksum columns.
bool has_checksums(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  const int rc =
      sqlite3_prepare_v2(db, "SELECT template_crc FROM people LIMIT 0", -1, &st, nullptr);
  sqlite3_finalize(st);
  return rc == SQLITE_OK;
}

struct Person {
  std::string name;
  bool intact = true;
};

// An embedding or template, for the length check once the gallery's length is known.
struct Vector {
  Person* owner;  // null: a face of no listed person
  std::string what;
  std::size_t bytes;
  bool verified;  // its checksum matched (only those vote for the gallery's length)
};

class RowChecker {
 public:
  RowChecker(sqlite3* db, GalleryCheck& report)
      : db_(db), report_(report), checksums_(has_checksums(db)) {}

  void run() {
    read_people();
    read_faces();
    check_lengths();
    report_.people_total = people_.size();
    std::vector<const Person*> sorted;
    for (const auto& [id, p] : people_) sorted.push_back(&p);
    std::sort(sorted.begin(), sorted.end(),
              [](const Person* a, const Person* b) { return a->name < b->name; });
    for (const Person* p : sorted)
      (p->intact ? report_.readable : report_.damaged).push_back(p->name);
  }

 private:
  void problem(Person* p, std::string line) {
    if (p != nullptr) p->intact = false;
    if (report_.problems.size() < kMaxReportedLines) {
      report_.problems.push_back(std::move(line));
    } else if (report_.problems.size() == kMaxReportedLines) {
      report_.problems.emplace_back("... (further problems not listed)");
    }
  }

  // Checks the blob in column `col` against the CRC-32 in `crc_col`; returns whether it matched
  // (true when the gallery has no checksums yet) and its size.
  std::pair<bool, std::size_t> blob(const Query& q, int col, int crc_col, Person* owner,
                                    const std::string& what) {
    sqlite3_stmt* st = q.get();
    if (sqlite3_column_type(st, col) != SQLITE_BLOB) {
      problem(owner, what + " is not stored as bytes");
      return {false, 0};
    }
    const auto* data = static_cast<const char*>(sqlite3_column_blob(st, col));
    const std::size_t n = static_cast<std::size_t>(sqlite3_column_bytes(st, col));
    if (!checksums_) return {true, n};
    if (sqlite3_column_type(st, crc_col) != SQLITE_INTEGER) {
      problem(owner, what + " has no checksum");
      return {false, n};
    }
    const std::string_view bytes(data != nullptr ? data : "", n);
    if (static_cast<std::uint64_t>(sqlite3_column_int64(st, crc_col)) != gallery_crc32(bytes)) {
      problem(owner, what + " fails its checksum");
      return {false, n};
    }
    return {true, n};
  }

  void read_people() {
    Query q(db_, checksums_ ? "SELECT id, name, template, template_crc FROM people"
                            : "SELECT id, name, template, NULL FROM people");
    while (q.row()) {
      Person& p = people_[q.integer(0)];
      p.name = q.text(1);
      std::string what = "'";  // built by appending: GCC 12 warns (falsely) on "'" + string&&
      what += printable(p.name) + "': the template";
      const auto [ok, n] = blob(q, 2, 3, &p, what);
      vectors_.push_back({&p, what, n, ok});
    }
    if (q.failed()) {
      // Whoever could not be listed is missing from the counts: say so.
      problem(nullptr, "the people table cannot be read to its end (" + q.error() + ")");
    }
  }

  void read_faces() {
    Query q(db_, checksums_ ? "SELECT id, person_id, embedding, embedding_crc, image, image_crc "
                              "FROM faces"
                            : "SELECT id, person_id, embedding, NULL, image, NULL FROM faces");
    while (q.row()) {
      const std::int64_t id = q.integer(0), person = q.integer(1);
      const auto it = people_.find(person);
      Person* owner = it != people_.end() ? &it->second : nullptr;
      std::string what = "face #" + std::to_string(id);
      if (owner != nullptr) {
        what += " of '" + printable(owner->name) + "'";
      } else {
        problem(nullptr,
                what + " belongs to no listed person (person #" + std::to_string(person) + ")");
      }
      const auto [ok, n] = blob(q, 2, 3, owner, what + ": the embedding");
      vectors_.push_back({owner, what + ": the embedding", n, ok});
      blob(q, 4, 5, owner, what + ": the image");
    }
    if (q.failed()) {
      // Which people lost faces cannot be told: none of them counts as intact.
      problem(nullptr, "the faces table cannot be read to its end (" + q.error() + ")");
      for (auto& [id, p] : people_) p.intact = false;
    }
  }

  // Every embedding and template has the gallery's length: the most common one among those whose
  // checksum matched.
  void check_lengths() {
    std::map<std::size_t, int> votes;
    for (const Vector& v : vectors_) {
      if (v.verified && v.bytes > 0 && v.bytes % 4 == 0) ++votes[v.bytes];
    }
    std::size_t expected = 0;
    int best = 0;
    for (const auto& [bytes, n] : votes) {
      if (n > best) expected = bytes, best = n;
    }
    for (const Vector& v : vectors_) {
      if (!v.verified) continue;  // already reported
      if (v.bytes == expected) continue;
      problem(v.owner, v.what + " has " + std::to_string(v.bytes) + " bytes, the gallery's have " +
                           std::to_string(expected));
    }
  }

  sqlite3* db_;
  GalleryCheck& report_;
  const bool checksums_;
  std::map<std::int64_t, Person> people_;
  std::vector<Vector> vectors_;
};

}  // namespace

std::string printable(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::string> sqlite_integrity(sqlite3* db, int max_lines) {
  const std::string sql = "PRAGMA integrity_check(" + std::to_string(max_lines) + ")";
  Query q(db, sql.c_str());
  std::vector<std::string> lines;
  while (q.row()) {
    std::string line = q.text(0);
    // The first line names the schema ("*** in database main ***\n..."): there is only one.
    static constexpr std::string_view kPrefix = "*** in database main ***\n";
    if (line.compare(0, kPrefix.size(), kPrefix) == 0) line.erase(0, kPrefix.size());
    if (line != "ok") lines.push_back(std::move(line));
  }
  if (q.failed()) lines.push_back("SQLite cannot check the file (" + q.error() + ")");
  return lines;
}

void check_rows(sqlite3* db, GalleryCheck& report) {
  try {
    RowChecker(db, report).run();
  } catch (const std::exception& e) {  // bad_alloc on a huge damaged length, say
    report.problems.push_back(std::string("checking the rows failed (") + e.what() + ")");
  }
}

std::string readable_summary(const GalleryCheck& report) {
  return std::to_string(report.readable.size()) + " of " + std::to_string(report.people_total) +
         " people readable; run 'vlrface gallery check' for the details, or restore a backup";
}

std::string readable_summary(sqlite3* db) {
  GalleryCheck r;
  check_rows(db, r);
  return readable_summary(r);
}

std::int64_t application_id(sqlite3* db) {
  return pragma_value(db, "PRAGMA application_id");
}

}  // namespace detail

std::uint32_t gallery_crc32(std::string_view bytes) {
  // Slicing-by-8 (eight bytes per step through eight tables): opening a gallery checksums every
  // blob in it, ~300 MB for 10,000 people with three faces each, and the plain byte-at-a-time
  // loop made that the larger part of the opening time.
  static constexpr auto kTables = [] {
    std::array<std::array<std::uint32_t, 256>, 8> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (std::size_t k = 1; k < 8; ++k) {
      for (std::size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
    }
    return t;
  }();
  const auto byte = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i]));
  };
  std::uint32_t c = 0xFFFFFFFFu;
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    const std::uint32_t lo =
        c ^ (byte(i) | byte(i + 1) << 8 | byte(i + 2) << 16 | byte(i + 3) << 24);
    const std::uint32_t hi = byte(i + 4) | byte(i + 5) << 8 | byte(i + 6) << 16 | byte(i + 7) << 24;
    c = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
        kTables[4][lo >> 24] ^ kTables[3][hi & 0xFF] ^ kTables[2][(hi >> 8) & 0xFF] ^
        kTables[1][(hi >> 16) & 0xFF] ^ kTables[0][hi >> 24];
  }
  for (; i < bytes.size(); ++i) c = kTables[0][(c ^ byte(i)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

GalleryCheck check_gallery(const std::filesystem::path& file) {
  using detail::Query;
  if (is_database_gallery(file.native())) {
    // Not the URL: it may hold a password.
    throw Error("gallery",
                "the gallery database: `gallery check` reads SQLite files; on PostgreSQL every "
                "row's checksum is verified as it is read (`gallery backup FILE` reads them all "
                "and checks the copy)");
  }
  const std::string f = file.string();
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) throw Error("gallery", f + ": no such gallery file");
    throw Error("gallery",
                f + ": cannot be accessed (" + std::generic_category().message(err) + ")");
  }
  if (!S_ISREG(st.st_mode)) throw Error("gallery", f + ": is not a regular file");
  sqlite3* raw = nullptr;
  // Read-only: checking must never change the evidence.
  const int rc = sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  const std::unique_ptr<sqlite3, detail::CloseDb> db(raw);
  if (rc != SQLITE_OK) {
    throw Error("gallery", f + ": cannot be opened (" +
                               (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)) + ")");
  }
  sqlite3_busy_timeout(db.get(), detail::kBusyTimeoutMs);
  if (detail::application_id(db.get()) != detail::kGalleryApplicationId) {
    // Without the header's id nothing says the file ever was a gallery.
    throw Error("gallery", f + ": is not a vlrface gallery (" + sqlite3_errmsg(db.get()) + ")");
  }
  GalleryCheck r;
  std::map<std::string, std::string> meta;
  {
    Query q(db.get(), "SELECT key, value FROM meta");
    while (q.row()) meta[q.text(0)] = q.text(1);
    if (q.failed()) r.problems.push_back("the meta table cannot be read (" + q.error() + ")");
  }
  const std::string& v = meta["schema_version"];
  std::int64_t version = 0;
  std::from_chars(v.data(), v.data() + v.size(), version);
  version = std::max(version, detail::pragma_value(db.get(), "PRAGMA user_version"));
  if (version > kGallerySchemaVersion) {
    throw Error("gallery", f + ": " + detail::newer_schema_message(version, kGallerySchemaVersion));
  }
  r.schema_version = static_cast<int>(version);
  r.model_id = meta["model_id"];
  for (auto& line : detail::sqlite_integrity(db.get(), detail::kMaxReportedLines)) {
    r.problems.push_back(std::move(line));
  }
  detail::check_rows(db.get(), r);
  return r;
}

}  // namespace vlrface
