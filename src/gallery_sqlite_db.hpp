// Private to the gallery's SQLite backend (gallery_sqlite.cpp): SQLite's C API in C++ --
// statements, transactions, errors turned into messages that say what is wrong with the file --
// and the owner-only creation of a new gallery file.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace vlrface::detail::sqlite {

// How long a statement waits for another process's lock before it fails as "locked".
inline constexpr int kBusyTimeoutMs = 5000;

std::string errno_text(int err);

// A consistent, checked copy of the open gallery `src` in a new owner-only file `out`
// (gallery_sqlite_backup.cpp). Error("gallery", ...) when `out` exists or the copy fails; a
// partial copy is removed.
void backup_database(sqlite3* src, const std::filesystem::path& src_file,
                     const std::filesystem::path& out);

// Throws Error("gallery", ...) for SQLite's result code `rc`: damaged, not a gallery, locked,
// not writable, or "<what> failed".
[[noreturn]] void sqlite_fail(sqlite3* db, const std::filesystem::path& file,
                              const std::string& what, int rc);
void exec_sql(sqlite3* db, const std::filesystem::path& file, const char* sql);

// Returns true when the file was created here (empty, mode 0600). Existing files are only read
// (and refused when they are no SQLite database).
bool create_or_check_file(const std::filesystem::path& file, bool create_if_missing);

class Statement {
 public:
  Statement(sqlite3* db, const std::filesystem::path& file, std::string_view sql)
      : db_(db), file_(file) {
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
  const std::filesystem::path& file_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Transaction {
 public:
  Transaction(sqlite3* db, const std::filesystem::path& file, bool write) : db_(db), file_(file) {
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
  const std::filesystem::path& file_;
};

}  // namespace vlrface::detail::sqlite
