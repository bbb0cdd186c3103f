#include "vlrface/gallery.hpp"

#include <cctype>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "gallery_check.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface {

// Defined in gallery_json.cpp; declared here rather than in a header because nothing else uses
// them.
namespace gallery_json {
std::string base64_encode(std::string_view bytes);
// Error unless `out` is missing or a regular file (lstat: a symbolic link is refused as one).
void require_replaceable(const std::filesystem::path& out);
void write_file_atomically(const std::filesystem::path& out, std::string_view text);
// (name, image paths as written in the file) per entry, in file order.
std::vector<std::pair<std::string, std::vector<std::string>>> read_reference(
    const std::filesystem::path& json_file);
}  // namespace gallery_json

namespace {

namespace fs = std::filesystem;
using detail::printable;

constexpr int kFaceSize = 112;
constexpr std::int64_t kApplicationId = detail::kGalleryApplicationId;
constexpr int kBusyTimeoutMs = 5000;
constexpr std::size_t kMaxNameBytes = 128;
constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

// Returns the code points of `s`, or nullopt when it is not valid UTF-8 (nlohmann::json refuses
// to export invalid UTF-8, so such a name could never leave the gallery again).
std::optional<std::vector<char32_t>> decode_utf8(std::string_view s) {
  std::vector<char32_t> cps;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + extra >= s.size()) return std::nullopt;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    cps.push_back(cp);
    i += extra + 1;
  }
  return cps;
}

std::optional<std::string> person_name_problem(const std::string& name) {
  const std::string shown = "person name '" + printable(name) + "'";
  if (name.empty()) return "person name is empty";
  if (name.size() > kMaxNameBytes) {
    return "person name is " + std::to_string(name.size()) + " bytes long; at most " +
           std::to_string(kMaxNameBytes) + " are allowed";
  }
  const auto cps = decode_utf8(name);
  if (!cps) return shown + " is not valid UTF-8";
  // Names become folder and file names when a gallery is exported to or shared with other tools.
  if (name.find_first_of("/\\") != std::string::npos) return shown + " contains '/' or '\\'";
  for (const char32_t cp : *cps) {
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return shown + " contains a control character";
  }
  if (name.front() == ' ' || name.back() == ' ') return shown + " starts or ends with a space";
  if (name == "." || name == "..") return shown + " is reserved";
  // The CLI prints "unknown" for a face it does not know and JSON has null for it: a person of
  // either name would read as no match.
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "unknown" || lower == "null") {
    return shown + " is reserved: it is what a face that matches no one is called";
  }
  return std::nullopt;
}

// Embeddings are stored as float32 little-endian whatever the host, so galleries can be copied
// between machines.
std::string to_blob(const std::vector<float>& v) {
  std::string out(v.size() * 4, '\0');
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto u = std::bit_cast<std::uint32_t>(v[i]);
    for (int b = 0; b < 4; ++b) out[4 * i + b] = static_cast<char>((u >> (8 * b)) & 0xFF);
  }
  return out;
}

std::optional<std::vector<float>> from_blob(std::string_view bytes) {
  if (bytes.size() % 4 != 0) return std::nullopt;
  std::vector<float> v(bytes.size() / 4);
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint32_t u = 0;
    for (int b = 0; b < 4; ++b)
      u |= std::uint32_t{static_cast<unsigned char>(bytes[4 * i + b])} << (8 * b);
    v[i] = std::bit_cast<float>(u);
  }
  return v;
}

double l2_norm(const std::vector<float>& v) {
  double sum = 0;
  for (const float x : v) sum += double{x} * x;
  return std::sqrt(sum);
}

// Returns why the embedding cannot be stored, or nullopt.
std::optional<std::string> embedding_problem(const std::vector<float>& e) {
  if (e.empty()) return "embedding is empty";
  if (!std::all_of(e.begin(), e.end(), [](float x) { return std::isfinite(x); })) {
    return "embedding contains NaN or infinite values";
  }
  if (l2_norm(e) == 0) return "embedding is all zeros";
  return std::nullopt;
}

[[noreturn]] void sqlite_fail(sqlite3* db, const fs::path& file, const std::string& what, int rc) {
  const std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const std::string f = file.string();
  switch (rc & 0xFF) {
    case SQLITE_CORRUPT:
      // A file whose header names it a vlrface gallery is a damaged gallery: say how much of it
      // is still readable, as the checks on opening do.
      if (db != nullptr && detail::application_id(db) == kApplicationId) {
        throw Error("gallery",
                    f + ": damaged: " + detail + " (" + detail::readable_summary(db) + ")");
      }
      [[fallthrough]];
    case SQLITE_NOTADB:
      throw Error("gallery", f + ": is not a vlrface gallery or is damaged (" + detail + ")");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw Error("gallery", f + ": is locked by another process (" + detail + ")");
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      throw Error("gallery", f + ": cannot be written (" + detail + ")");
    default:
      throw Error("gallery", f + ": " + what + " failed (" + detail + ")");
  }
}

void exec_sql(sqlite3* db, const fs::path& file, const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  sqlite3_free(message);  // sqlite3_errmsg still holds the same text
  if (rc != SQLITE_OK) sqlite_fail(db, file, std::string("'") + sql + "'", rc);
}

class Statement {
 public:
  Statement(sqlite3* db, const fs::path& file, std::string_view sql) : db_(db), file_(file) {
    const int rc =
        sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
    if (rc != SQLITE_OK) sqlite_fail(db, file, "query", rc);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& bind(int i, std::string_view text) {
    return check(
        sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
  }
  Statement& bind_blob(int i, std::string_view bytes) {
    // A null pointer would bind SQL NULL, which NOT NULL columns reject.
    return check(sqlite3_bind_blob(stmt_, i, bytes.empty() ? "" : bytes.data(),
                                   static_cast<int>(bytes.size()), SQLITE_TRANSIENT));
  }
  // True while a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite_fail(db_, file_, "query", rc);
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  int type(int col) const { return sqlite3_column_type(stmt_, col); }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p != nullptr ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  // Valid until the next step/reset.
  std::string_view blob(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p != nullptr ? std::string_view(p, sqlite3_column_bytes(stmt_, col))
                        : std::string_view();
  }

 private:
  Statement& check(int rc) {
    if (rc != SQLITE_OK) sqlite_fail(db_, file_, "binding a query parameter", rc);
    return *this;
  }

  sqlite3* db_;
  const fs::path& file_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Transaction {
 public:
  Transaction(sqlite3* db, const fs::path& file, bool write) : db_(db), file_(file) {
    // IMMEDIATE takes the write lock up front, so a concurrent writer waits in the busy handler
    // instead of failing halfway through with SQLITE_BUSY.
    exec_sql(db, file, write ? "BEGIN IMMEDIATE" : "BEGIN");
  }
  ~Transaction() {
    // Covers exceptions and a failed COMMIT (which may leave the transaction open).
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() { exec_sql(db_, file_, "COMMIT"); }

 private:
  sqlite3* db_;
  const fs::path& file_;
};

// What each blob's checksum column holds: the CRC-32, as a non-negative SQLite integer.
std::int64_t crc_of(std::string_view bytes) {
  return static_cast<std::int64_t>(gallery_crc32(bytes));
}

struct PreparedFace {
  std::string jpeg;
  std::vector<float> embedding;
  std::string source;
};

// Returns true when the file was created here (empty, mode 0600). Existing files are only read.
bool create_or_check_file(const fs::path& file, bool create_if_missing) {
  const std::string f = file.string();
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    const int stat_err = errno;
    if (stat_err != ENOENT) {
      throw Error("gallery", f + ": cannot be accessed (" + errno_text(stat_err) + ")");
    }
    if (!create_if_missing) throw Error("gallery", f + ": no such gallery file");
    // Created here rather than by SQLite, which would use 0644: the gallery holds biometric data.
    // SQLite gives its journal files the database's mode, so they stay private too.
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    const int open_err = errno;
    if (fd >= 0) {
      ::fchmod(fd, 0600);  // an unusual umask (e.g. 0277) must not leave it unwritable
      ::close(fd);
      return true;
    }
    if (open_err != EEXIST) {
      throw Error("gallery", f + ": cannot be created (" + errno_text(open_err) + ")");
    }
    // Another process created it just now: check it like any existing file.
    if (::stat(file.c_str(), &st) != 0) {
      const int err = errno;
      throw Error("gallery", f + ": cannot be accessed (" + errno_text(err) + ")");
    }
  }
  const std::string not_gallery = f + ": is not a vlrface gallery (";
  if (S_ISDIR(st.st_mode)) throw Error("gallery", not_gallery + "it is a directory)");
  if (!S_ISREG(st.st_mode)) throw Error("gallery", not_gallery + "not a regular file)");
  // An empty file is somebody's file, not a new gallery: never write into it.
  if (st.st_size == 0) throw Error("gallery", not_gallery + "the file is empty)");
  char header[16] = {};
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("gallery", f + ": cannot be opened for reading");
  in.read(header, sizeof header);
  if (in.gcount() != sizeof header || std::memcmp(header, "SQLite format 3", 16) != 0) {
    throw Error("gallery", not_gallery + "not an SQLite database)");
  }
  return false;
}

}  // namespace

void validate_person_name(const std::string& name) {
  if (const auto problem = person_name_problem(name)) throw Error("gallery", *problem);
}

struct Gallery::Impl {
  fs::path file;
  std::string build_model_id;  // the model of the caller's embeddings
  std::string model_id;        // the model of the stored embeddings
  GallerySettings settings;
  sqlite3* db = nullptr;
  std::int64_t data_version = 0;  // PRAGMA data_version when refresh_if_changed() last looked

  Impl() = default;
  ~Impl() { sqlite3_close_v2(db); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Statement sql(std::string_view query) { return Statement(db, file, query); }
  void exec(const std::string& query) { exec_sql(db, file, query.c_str()); }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("gallery", file.string() + ": " + what);
  }
  // Damage found: the message says how much is still readable and what to do.
  [[noreturn]] void damaged(const std::string& what) const {
    fail("damaged: " + what + " (" + detail::readable_summary(db) + ")");
  }

  // The blob in column `col` of `q`, after checking it against the CRC-32 in column `crc_col`.
  std::string_view verified(const Statement& q, int col, int crc_col,
                            const std::string& what) const {
    const std::string_view bytes = q.blob(col);
    if (q.type(crc_col) != SQLITE_INTEGER || q.integer(crc_col) != crc_of(bytes)) {
      damaged(what + " fails its checksum");
    }
    return bytes;
  }

  void create_schema() {
    Transaction t(db, file, true);
    exec("PRAGMA application_id = " + std::to_string(kApplicationId));
    exec("PRAGMA user_version = " + std::to_string(kGallerySchemaVersion));
    exec(R"sql(
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
    Statement put = sql("INSERT INTO meta(key, value) VALUES (?, ?)");
    const std::pair<const char*, std::string> rows[] = {
        {"format", "vlrface-gallery"},
        {"schema_version", std::to_string(kGallerySchemaVersion)},
        {"model_id", build_model_id}};
    for (const auto& [key, value] : rows) {
      put.reset().bind(1, std::string_view(key)).bind(2, value).step();
    }
    exec(std::string("INSERT INTO meta(key, value) VALUES ('created_at', ") + kNow + ")");
    t.commit();
    model_id = build_model_id;
  }

  std::int64_t pragma(const char* name) {
    Statement q = sql(std::string("PRAGMA ") + name);
    return q.step() ? q.integer(0) : 0;
  }

  // Returns the file's schema version (older ones are upgraded by the caller, once the
  // statements here are finished: VACUUM refuses to run beside them).
  std::int64_t check_existing(GalleryOpen open) {
    const std::string not_gallery = "is not a vlrface gallery (";
    // Reading the header first is what makes SQLite notice a damaged or truncated file.
    const std::int64_t app_id = pragma("application_id");
    const std::int64_t user_version = pragma("user_version");
    if (app_id != kApplicationId) fail(not_gallery + "an SQLite database of another program)");
    Statement has_meta = sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
    if (!has_meta.step()) fail(not_gallery + "no meta table)");
    std::map<std::string, std::string> meta;
    Statement rows = sql("SELECT key, value FROM meta");
    while (rows.step()) meta[rows.text(0)] = rows.text(1);
    if (meta["format"] != "vlrface-gallery") {
      fail(not_gallery + "format is '" + printable(meta["format"]) + "')");
    }
    const std::string& v = meta["schema_version"];
    std::int64_t version = 0;
    if (std::from_chars(v.data(), v.data() + v.size(), version).ec != std::errc()) {
      fail(not_gallery + "schema_version '" + printable(v) + "')");
    }
    // Either marker being newer means a newer vlrface touched the file.
    version = std::max(version, user_version);
    if (version > kGallerySchemaVersion) {
      fail("schema version " + std::to_string(version) + " is newer than this build supports (" +
           std::to_string(kGallerySchemaVersion) + "); upgrade vlrface");
    }
    if (version < 1) fail(not_gallery + "schema version " + std::to_string(version) + ")");
    // Before anything is trusted or written: a damaged gallery is refused with what is still
    // readable, never read as if nothing were wrong (every person "unknown").
    check_integrity();
    model_id = meta["model_id"];
    if (model_id.empty()) fail(not_gallery + "no model_id)");
    if (model_id != build_model_id && open == GalleryOpen::kStrict) {
      fail("made by embedding model '" + printable(model_id) + "', this build uses '" +
           printable(build_model_id) + "'; re-embed it with `vlrface gallery reembed`");
    }
    return version;
  }

  // SQLite's structural check and every row's checksum and length: check_gallery() without the
  // report.
  void check_integrity() {
    GalleryCheck report;
    report.problems = detail::sqlite_integrity(db, 10);
    detail::check_rows(db, report);
    if (report.clean()) return;
    std::string what = report.problems.front();
    if (report.problems.size() > 1) {
      what += "; " + std::to_string(report.problems.size() - 1) + " more";
    }
    fail("damaged: " + what + " (" + detail::readable_summary(report) + ")");
  }

  // Schema 1 had no checksums: they are computed from the rows as they are now, which
  // check_integrity() has just checked as far as version 1 allows (structure and lengths).
  void upgrade_from_1() {
    // Removals made before secure_delete was on may have left people's bytes in free pages:
    // VACUUM rewrites the file without them, once, before the upgrade.
    exec("VACUUM");
    Transaction t(db, file, true);
    {
      // Another process may have upgraded it while this one waited for the lock.
      Statement q = sql("SELECT value FROM meta WHERE key = 'schema_version'");
      if (q.step() && q.text(0) != "1") return;
    }
    exec("ALTER TABLE people ADD COLUMN template_crc INTEGER");
    exec("ALTER TABLE faces ADD COLUMN embedding_crc INTEGER");
    exec("ALTER TABLE faces ADD COLUMN image_crc INTEGER");
    // Computed first, written after: updating rows of a table while a SELECT walks it is not
    // well defined in SQLite.
    std::vector<std::array<std::int64_t, 3>> rows;
    {
      Statement q = sql("SELECT id, template FROM people");
      while (q.step()) rows.push_back({q.integer(0), crc_of(q.blob(1)), 0});
    }
    Statement put_template = sql("UPDATE people SET template_crc = ? WHERE id = ?");
    for (const auto& [id, crc, unused] : rows) put_template.reset().bind(1, crc).bind(2, id).step();
    rows.clear();
    {
      Statement q = sql("SELECT id, embedding, image FROM faces");
      while (q.step()) rows.push_back({q.integer(0), crc_of(q.blob(1)), crc_of(q.blob(2))});
    }
    Statement put_face = sql("UPDATE faces SET embedding_crc = ?, image_crc = ? WHERE id = ?");
    for (const auto& [id, embedding, image] : rows) {
      put_face.reset().bind(1, embedding).bind(2, image).bind(3, id).step();
    }
    exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
    exec("PRAGMA user_version = 2");
    t.commit();
  }

  // Mixing embeddings of two models in one gallery would make every match meaningless.
  void require_own_model(const std::string& action) const {
    if (model_id != build_model_id) {
      fail("cannot " + action + " it: it holds embeddings of model '" + printable(model_id) +
           "', the new ones come from '" + printable(build_model_id) +
           "'; re-embed it first with `vlrface gallery reembed`");
    }
  }

  PreparedFace prepare(const EnrollFace& face, const std::string& what) const {
    const cv::Mat& img = face.aligned;
    if (img.rows != kFaceSize || img.cols != kFaceSize || img.type() != CV_8UC3) {
      fail(what + ": the aligned image is " + std::to_string(img.cols) + "x" +
           std::to_string(img.rows) + " " + cv::typeToString(img.type()) +
           ", expected 112x112 CV_8UC3 (8-bit BGR)");
    }
    if (const auto problem = embedding_problem(face.embedding)) fail(what + ": " + *problem);
    const std::vector<std::uint8_t> jpeg = encode_jpeg(img, settings.jpeg_quality);
    return {std::string(jpeg.begin(), jpeg.end()), face.embedding, face.source};
  }

  std::optional<std::int64_t> person_id(const std::string& name) {
    Statement q = sql("SELECT id FROM people WHERE name = ?");
    q.bind(1, name);
    if (!q.step()) return std::nullopt;
    return q.integer(0);
  }

  std::int64_t require_person(const std::string& name) {
    const auto id = person_id(name);
    if (!id) fail("no person named '" + printable(name) + "'");
    return *id;
  }

  std::optional<std::size_t> stored_dims() {
    Statement q = sql("SELECT length(embedding) FROM faces LIMIT 1");
    if (!q.step()) return std::nullopt;
    return static_cast<std::size_t>(q.integer(0)) / 4;
  }

  std::vector<float> decode_embedding(std::string_view blob, const std::string& what) const {
    auto v = from_blob(blob);
    if (!v) fail("is damaged (" + what + " has " + std::to_string(blob.size()) + " bytes)");
    return std::move(*v);
  }

  // Must run inside a write transaction; creates the person when absent. `what` starts errors.
  void insert_faces(const std::string& name, const std::vector<PreparedFace>& faces,
                    const std::string& what) {
    auto id = person_id(name);
    if (!id) {
      Statement add = sql(std::string("INSERT INTO people(name, template, created_at) VALUES "
                                      "(?, x'', ") +
                          kNow + ")");
      add.bind(1, name).step();
      id = sqlite3_last_insert_rowid(db);
    }
    std::optional<std::size_t> dims = stored_dims();
    Statement put = sql(std::string("INSERT INTO faces(person_id, image, embedding, source, "
                                    "created_at, embedding_crc, image_crc) VALUES (?, ?, ?, ?, ") +
                        kNow + ", ?, ?)");
    for (std::size_t i = 0; i < faces.size(); ++i) {
      const std::size_t n = faces[i].embedding.size();
      if (dims && n != *dims) {
        fail(what + ": face " + std::to_string(i + 1) + " has a " + std::to_string(n) +
             "-value embedding, the gallery's embeddings have " + std::to_string(*dims) +
             " values");
      }
      dims = n;
      const std::string embedding = to_blob(faces[i].embedding);
      put.reset()
          .bind(1, *id)
          .bind_blob(2, faces[i].jpeg)
          .bind_blob(3, embedding)
          .bind(4, faces[i].source)
          .bind(5, crc_of(embedding))
          .bind(6, crc_of(faces[i].jpeg))
          .step();
    }
    update_template(*id);
  }

  void update_template(std::int64_t id) {
    std::vector<double> sum;
    Statement q = sql("SELECT id, embedding, embedding_crc FROM faces WHERE person_id = ?");
    q.bind(1, id);
    while (q.step()) {
      const std::string what = "the embedding of face #" + std::to_string(q.integer(0));
      const std::vector<float> e = decode_embedding(verified(q, 1, 2, what), what);
      if (sum.empty()) sum.assign(e.size(), 0.0);
      const double norm = l2_norm(e);
      if (e.size() != sum.size() || norm == 0) fail("is damaged (" + what + " is invalid)");
      for (std::size_t i = 0; i < e.size(); ++i) sum[i] += e[i] / norm;
    }
    double norm = 0;
    for (const double x : sum) norm += x * x;
    norm = std::sqrt(norm);
    std::vector<float> t(sum.size());
    // Embeddings that cancel out leave a zero template: it then matches nobody, which is right.
    for (std::size_t i = 0; i < sum.size(); ++i) {
      t[i] = static_cast<float>(norm > 0 ? sum[i] / norm : 0.0);
    }
    const std::string blob = to_blob(t);
    Statement put = sql("UPDATE people SET template = ?, template_crc = ? WHERE id = ?");
    put.bind_blob(1, blob).bind(2, crc_of(blob)).bind(3, id).step();
  }
};

Gallery::Gallery(const fs::path& file, const std::string& model_id, GallerySettings settings,
                 GalleryOpen open)
    : impl_(std::make_unique<Impl>()) {
  Impl& g = *impl_;
  g.file = file;
  g.build_model_id = model_id;
  g.settings = settings;
  if (settings.jpeg_quality < 1 || settings.jpeg_quality > 100) {
    g.fail("JPEG quality " + std::to_string(settings.jpeg_quality) + " is outside 1..100");
  }
  if (model_id.empty()) g.fail("the embedding model id is empty");
  const bool created = create_or_check_file(file, settings.create_if_missing);
  try {
    // No SQLITE_OPEN_CREATE: the file exists by now, and SQLite must not create one with 0644.
    const int rc = sqlite3_open_v2(file.c_str(), &g.db, SQLITE_OPEN_READWRITE, nullptr);
    if (rc != SQLITE_OK) sqlite_fail(g.db, file, "opening", rc);
    sqlite3_busy_timeout(g.db, kBusyTimeoutMs);
    g.exec("PRAGMA foreign_keys = ON");
    // A removed person's images and embeddings are overwritten with zeros, not merely marked
    // free: without it their bytes stay readable in the file's free pages.
    g.exec("PRAGMA secure_delete = ON");
    if (created) {
      g.create_schema();
    } else if (g.check_existing(open) < kGallerySchemaVersion) {
      g.upgrade_from_1();
    }
    g.data_version = g.pragma("data_version");
  } catch (...) {
    if (created) {
      // Only a file made by this constructor is removed; existing files are never touched.
      sqlite3_close_v2(g.db);
      g.db = nullptr;
      std::error_code ec;
      fs::remove(file, ec);
    }
    throw;
  }
}

Gallery::~Gallery() = default;
Gallery::Gallery(Gallery&&) noexcept = default;
Gallery& Gallery::operator=(Gallery&&) noexcept = default;

const fs::path& Gallery::file() const {
  return impl_->file;
}

std::string Gallery::model_id() const {
  return impl_->model_id;
}

void Gallery::enroll(const std::string& name, const std::vector<EnrollFace>& faces) {
  Impl& g = *impl_;
  if (const auto problem = person_name_problem(name)) g.fail("cannot enroll: " + *problem);
  g.require_own_model("enroll into");
  if (faces.empty()) g.fail("enroll '" + printable(name) + "': no faces given");
  // Validated and encoded before the transaction, so the write lock is held only for the inserts.
  std::vector<PreparedFace> prepared;
  prepared.reserve(faces.size());
  for (std::size_t i = 0; i < faces.size(); ++i) {
    prepared.push_back(
        g.prepare(faces[i], "enroll '" + printable(name) + "': face " + std::to_string(i + 1)));
  }
  Transaction t(g.db, g.file, true);
  g.insert_faces(name, prepared, "enroll '" + printable(name) + "'");
  t.commit();
}

void Gallery::remove_person(const std::string& name) {
  Impl& g = *impl_;
  Transaction t(g.db, g.file, true);
  Statement del = g.sql("DELETE FROM people WHERE name = ?");  // faces go by ON DELETE CASCADE
  del.bind(1, name).step();
  if (sqlite3_changes(g.db) == 0) {
    g.fail("cannot remove: no person named '" + printable(name) + "'");
  }
  t.commit();
}

void Gallery::rename_person(const std::string& from, const std::string& to) {
  Impl& g = *impl_;
  if (const auto problem = person_name_problem(to)) g.fail("cannot rename: " + *problem);
  Transaction t(g.db, g.file, true);
  const auto id = g.person_id(from);
  if (!id) g.fail("cannot rename: no person named '" + printable(from) + "'");
  if (from == to) return;
  if (g.person_id(to)) {
    g.fail("cannot rename '" + printable(from) + "': a person named '" + printable(to) +
           "' already exists");
  }
  Statement put = g.sql("UPDATE people SET name = ? WHERE id = ?");
  put.bind(1, to).bind(2, *id).step();
  t.commit();
}

bool Gallery::has_person(const std::string& name) const {
  return impl_->person_id(name).has_value();
}

std::vector<PersonInfo> Gallery::people() const {
  Impl& g = *impl_;
  Statement q = g.sql(
      "SELECT p.id, p.name, (SELECT count(*) FROM faces f WHERE f.person_id = p.id) "
      "FROM people p ORDER BY p.name");
  std::vector<PersonInfo> out;
  while (q.step()) out.push_back({q.integer(0), q.text(1), static_cast<int>(q.integer(2))});
  return out;
}

std::vector<PersonTemplate> Gallery::templates() const {
  std::vector<PersonTemplate> out;
  for_each_template([&](PersonTemplate&& t) { out.push_back(std::move(t)); });
  return out;
}

void Gallery::for_each_template(const std::function<void(PersonTemplate&&)>& f) const {
  Impl& g = *impl_;
  Statement q = g.sql("SELECT name, template, template_crc FROM people ORDER BY name");
  std::optional<std::size_t> dims;
  while (q.step()) {
    std::string name = q.text(0);
    const std::string what = "the template of '" + printable(name) + "'";
    auto t = g.decode_embedding(g.verified(q, 1, 2, what), what);
    if (dims && t.size() != *dims) {
      g.damaged(what + " has " + std::to_string(t.size()) + " values, the others " +
                std::to_string(*dims));
    }
    dims = t.size();
    f({std::move(name), std::move(t)});
  }
}

std::vector<StoredFace> Gallery::faces(const std::string& name) const {
  Impl& g = *impl_;
  Transaction t(g.db, g.file, false);  // one snapshot for both queries
  const std::int64_t id = g.require_person(name);
  Statement q = g.sql(
      "SELECT id, image, embedding, source, image_crc, embedding_crc FROM faces "
      "WHERE person_id = ? ORDER BY id");
  q.bind(1, id);
  std::vector<StoredFace> out;
  while (q.step()) {
    StoredFace f;
    f.id = q.integer(0);
    f.person = name;
    const std::string what = "face #" + std::to_string(f.id) + " of '" + printable(name) + "'";
    const std::string_view jpeg = g.verified(q, 1, 4, "the image of " + what);
    try {
      f.aligned = decode_image(std::vector<std::uint8_t>(jpeg.begin(), jpeg.end()), what);
    } catch (const Error& e) {
      g.fail(std::string("is damaged (") + e.what() + ")");
    }
    f.embedding = g.decode_embedding(g.verified(q, 2, 5, "the embedding of " + what),
                                     "the embedding of " + what);
    f.source = q.text(3);
    out.push_back(std::move(f));
  }
  t.commit();
  return out;
}

std::size_t Gallery::size() const {
  Statement q = impl_->sql("SELECT count(*) FROM people");
  return q.step() ? static_cast<std::size_t>(q.integer(0)) : 0;
}

bool Gallery::refresh_if_changed() {
  Impl& g = *impl_;
  const std::int64_t version = g.pragma("data_version");
  if (version == g.data_version) return false;
  g.data_version = version;
  // The other process may have re-embedded the gallery, or a newer vlrface upgraded it.
  std::map<std::string, std::string> meta;
  Statement q = g.sql("SELECT key, value FROM meta WHERE key IN ('model_id', 'schema_version')");
  while (q.step()) meta[q.text(0)] = q.text(1);
  const std::string& v = meta["schema_version"];
  std::int64_t schema = 0;
  std::from_chars(v.data(), v.data() + v.size(), schema);
  if (schema > kGallerySchemaVersion) {
    g.fail("schema version " + std::to_string(schema) + " is newer than this build supports (" +
           std::to_string(kGallerySchemaVersion) + "); upgrade vlrface");
  }
  if (!meta["model_id"].empty()) g.model_id = meta["model_id"];
  return true;
}

void Gallery::backup(const fs::path& out) const {
  Impl& g = *impl_;
  const std::string o = out.string();
  // A backup never replaces anything: not an older backup, not a link to one.
  struct stat st {};
  if (::lstat(out.c_str(), &st) == 0) {
    throw Error("gallery", o + ": already exists; a backup is only written to a new file");
  }
  if (const int err = errno; err != ENOENT) {
    throw Error("gallery", o + ": cannot be accessed (" + errno_text(err) + ")");
  }
  // Created here, owner-only, rather than by SQLite (0644): the copy holds the same biometric
  // data. O_EXCL: if something appeared since the lstat, this fails instead of writing into it.
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    const int err = errno;
    throw Error("gallery", o + ": cannot be created (" + errno_text(err) + ")");
  }
  ::fchmod(fd, 0600);  // whatever the umask
  ::close(fd);
  sqlite3* dst = nullptr;
  try {
    int rc = sqlite3_open_v2(out.c_str(), &dst, SQLITE_OPEN_READWRITE, nullptr);
    if (rc != SQLITE_OK) sqlite_fail(dst, out, "opening the backup", rc);
    sqlite3_busy_timeout(dst, kBusyTimeoutMs);
    sqlite3_backup* b = sqlite3_backup_init(dst, "main", g.db, "main");
    if (b == nullptr) sqlite_fail(dst, out, "starting the backup", sqlite3_errcode(dst));
    // All pages in one step: one consistent snapshot. A writer holding the gallery's lock makes
    // the step answer BUSY: it is retried for as long as the busy timeout allows.
    for (int waited_ms = 0;;) {
      rc = sqlite3_backup_step(b, -1);
      if (rc == SQLITE_OK) continue;  // more pages (not expected with -1)
      if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited_ms >= kBusyTimeoutMs) break;
      sqlite3_sleep(50);
      waited_ms += 50;
    }
    const int finish = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) sqlite_fail(g.db, g.file, "backing up to " + o, rc);
    if (finish != SQLITE_OK) sqlite_fail(dst, out, "finishing the backup", finish);
    sqlite3_close_v2(dst);
    dst = nullptr;
    // A copy that fails its own check is no backup.
    const GalleryCheck check = check_gallery(out);
    if (!check.clean()) {
      throw Error("gallery", o + ": the backup fails its check (" + check.problems.front() + ")");
    }
  } catch (...) {
    sqlite3_close_v2(dst);
    std::error_code ec;
    fs::remove(out, ec);  // only the file created above
    throw;
  }
  // Without this a crash could forget the new file although its data reached the disk.
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void Gallery::reembed(const std::function<std::vector<float>(const cv::Mat&)>& embed,
                      const std::string& new_model_id) {
  Impl& g = *impl_;
  if (new_model_id.empty()) g.fail("cannot re-embed: the new model id is empty");
  Transaction t(g.db, g.file, true);
  // Ids first: updating rows of a table while a SELECT walks it is not well defined in SQLite.
  std::vector<std::int64_t> ids;
  {
    Statement q = g.sql("SELECT id FROM faces ORDER BY id");
    while (q.step()) ids.push_back(q.integer(0));
  }
  Statement get = g.sql("SELECT image, image_crc FROM faces WHERE id = ?");
  Statement put = g.sql("UPDATE faces SET embedding = ?, embedding_crc = ? WHERE id = ?");
  std::optional<std::size_t> dims;
  for (const std::int64_t id : ids) {
    const std::string what = "face #" + std::to_string(id);
    get.reset().bind(1, id);
    if (!get.step()) g.fail("is damaged (" + what + " vanished)");
    const std::string_view jpeg = g.verified(get, 0, 1, "the image of " + what);
    cv::Mat img;
    try {
      img = decode_image(std::vector<std::uint8_t>(jpeg.begin(), jpeg.end()), what);
    } catch (const Error& e) {
      g.fail(std::string("is damaged (") + e.what() + ")");
    }
    std::vector<float> e;
    try {
      e = embed(img);
    } catch (const std::exception& ex) {
      g.fail("re-embedding " + what + ": " + ex.what());
    }
    if (const auto problem = embedding_problem(e)) g.fail("re-embedding " + what + ": " + *problem);
    if (dims && e.size() != *dims) {
      g.fail("re-embedding " + what + ": the model returned " + std::to_string(e.size()) +
             " values, earlier faces got " + std::to_string(*dims));
    }
    dims = e.size();
    const std::string blob = to_blob(e);
    put.reset().bind_blob(1, blob).bind(2, crc_of(blob)).bind(3, id).step();
  }
  std::vector<std::int64_t> people;
  {
    Statement q = g.sql("SELECT id FROM people");
    while (q.step()) people.push_back(q.integer(0));
  }
  for (const std::int64_t id : people) g.update_template(id);
  Statement meta = g.sql("UPDATE meta SET value = ? WHERE key = 'model_id'");
  meta.bind(1, new_model_id).step();
  t.commit();
  g.model_id = new_model_id;
}

void Gallery::export_json(const fs::path& out) const {
  Impl& g = *impl_;
  gallery_json::require_replaceable(out);  // before the work, not only before the rename
  std::error_code ec;
  if (fs::equivalent(out, g.file, ec)) g.fail("refusing to export over the gallery itself");
  nlohmann::ordered_json doc;
  doc["format"] = "vlrface-gallery-export";
  doc["version"] = 1;
  doc["model_id"] = g.model_id;
  doc["people"] = nlohmann::ordered_json::array();
  {
    Transaction t(g.db, g.file, false);  // one consistent snapshot
    Statement people = g.sql("SELECT id, name, template, template_crc FROM people ORDER BY name");
    Statement faces = g.sql(
        "SELECT id, source, embedding, image, embedding_crc, image_crc FROM faces "
        "WHERE person_id = ? ORDER BY id");
    while (people.step()) {
      nlohmann::ordered_json person;
      person["name"] = people.text(1);
      const std::string who = "'" + printable(people.text(1)) + "'";
      person["template"] =
          g.decode_embedding(g.verified(people, 2, 3, "the template of " + who), "a template");
      person["faces"] = nlohmann::ordered_json::array();
      faces.reset().bind(1, people.integer(0));
      while (faces.step()) {
        const std::string what = "face #" + std::to_string(faces.integer(0)) + " of " + who;
        nlohmann::ordered_json face;
        face["source"] = faces.text(1);
        face["embedding"] =
            g.decode_embedding(g.verified(faces, 2, 4, "the embedding of " + what), "an embedding");
        face["image_jpeg_base64"] =
            gallery_json::base64_encode(g.verified(faces, 3, 5, "the image of " + what));
        person["faces"].push_back(std::move(face));
      }
      doc["people"].push_back(std::move(person));
    }
    t.commit();
  }
  // Sources are file names, which need not be UTF-8; replacing bad bytes beats failing the export.
  gallery_json::write_file_atomically(
      out, doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
}

int Gallery::import_reference(const fs::path& gallery_json,
                              const std::function<std::vector<float>(const cv::Mat&)>& embed) {
  Impl& g = *impl_;
  g.require_own_model("import into");
  const auto entries = gallery_json::read_reference(gallery_json);
  const fs::path dir = gallery_json.parent_path();
  const std::string file = gallery_json.string();
  // The reference app's own "embedding" entries come from a different model and are not
  // comparable with ours, so they are ignored and every image is embedded again.
  std::vector<std::pair<std::size_t, std::vector<PreparedFace>>> people;  // entry index, faces
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& [name, paths] = entries[i];
    const std::string where =
        file + ": people[" + std::to_string(i) + "] ('" + printable(name) + "')";
    if (const auto problem = person_name_problem(name)) {
      throw Error("gallery", where + ": " + *problem);
    }
    if (paths.empty()) continue;  // nothing to enrol
    std::vector<PreparedFace> faces;
    faces.reserve(paths.size());
    for (const std::string& rel : paths) {
      const std::string at = where + ": image '" + rel + "'";
      EnrollFace face;
      try {
        cv::Mat img = load_image(dir / rel);
        if (img.rows != kFaceSize || img.cols != kFaceSize) {
          const bool shrinking = img.rows >= kFaceSize && img.cols >= kFaceSize;
          cv::Mat resized;
          cv::resize(img, resized, cv::Size(kFaceSize, kFaceSize), 0, 0,
                     shrinking ? cv::INTER_AREA : cv::INTER_CUBIC);
          img = resized;
        }
        face.aligned = img;
        face.embedding = embed(img);
      } catch (const std::exception& e) {
        throw Error("gallery", at + ": " + e.what());
      }
      face.source = rel;
      faces.push_back(g.prepare(face, "importing " + at));
    }
    people.emplace_back(i, std::move(faces));
  }
  Transaction t(g.db, g.file, true);
  std::set<std::string> names;
  for (const auto& [i, faces] : people) {
    const std::string& name = entries[i].first;
    g.insert_faces(
        name, faces,
        "importing " + file + ": people[" + std::to_string(i) + "] ('" + printable(name) + "')");
    names.insert(name);
  }
  t.commit();
  return static_cast<int>(names.size());
}

}  // namespace vlrface
