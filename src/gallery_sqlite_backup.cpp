// A consistent copy of the open gallery `src` (at `src_file`) in a new, owner-only file `out`
// (never replacing anything), checked before this returns; the partial copy is removed on error.
// The online backup API: other processes may keep reading and writing meanwhile.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "gallery_check.hpp"
#include "gallery_sqlite_db.hpp"
#include "vlrface/error.hpp"

namespace vlrface::detail::sqlite {

namespace fs = std::filesystem;

void backup_database(sqlite3* src, const fs::path& src_file, const fs::path& out) {
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
    sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
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
    if (rc != SQLITE_DONE) sqlite_fail(src, src_file, "backing up to " + o, rc);
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

}  // namespace vlrface::detail::sqlite
