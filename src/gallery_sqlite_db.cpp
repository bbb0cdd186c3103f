#include "gallery_sqlite_db.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include "gallery_check.hpp"
#include "vlrface/error.hpp"

namespace vlrface::detail::sqlite {

namespace fs = std::filesystem;

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

[[noreturn]] void sqlite_fail(sqlite3* db, const fs::path& file, const std::string& what, int rc) {
  const std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const std::string f = file.string();
  switch (rc & 0xFF) {
    case SQLITE_CORRUPT:
      // A file whose header names it a vlrface gallery is a damaged gallery: say how much of it
      // is still readable, as the checks on opening do.
      if (db != nullptr && application_id(db) == kGalleryApplicationId) {
        throw Error("gallery", f + ": damaged: " + detail + " (" + readable_summary(db) + ")");
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

}  // namespace vlrface::detail::sqlite
