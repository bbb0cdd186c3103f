#include "gallery_pg_session.hpp"

#include <charconv>

#include "vlrface/error.hpp"

namespace vlrface::detail::pg {

Session::Session(std::string url) : url_(std::move(url)) { where_ = describe(url_, &password_); }

Session::~Session() { PQfinish(conn_); }

void Session::fail(const std::string& what) const {
  throw Error("gallery", where_.string() + ": " + scrub(what, password_));
}

void Session::connect() {
  PQfinish(conn_);
  conn_ = PQconnectdb(url_.c_str());
  listening_ = false;
  if (conn_ == nullptr) fail("cannot connect (out of memory)");
  if (PQstatus(conn_) != CONNECTION_OK) fail("cannot connect (" + last_error() + ")");
  // Notices (e.g. "already exists, skipping") would go to stderr by default.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

void Session::reconnect() {
  PQreset(conn_);
  listening_ = false;
  if (PQstatus(conn_) != CONNECTION_OK) {
    fail("the database cannot be reached (" + last_error() + "); it is tried again");
  }
}

bool Session::connected() const { return PQstatus(conn_) == CONNECTION_OK; }

void Session::listen(const std::string& channel) {
  exec_plain("LISTEN " + channel);
  listening_ = true;
}

std::optional<bool> Session::take_notifications() {
  if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) return std::nullopt;
  bool notified = false;
  while (PGnotify* n = PQnotifies(conn_)) {
    notified = true;
    PQfreemem(n);
  }
  return notified;
}

std::string Session::last_error() const {
  std::string m = conn_ != nullptr ? PQerrorMessage(conn_) : "no connection";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  for (char& c : m)
    if (c == '\n' || c == '\t') c = ' ';
  return scrub(m, password_);
}

Result Session::exec(const std::string& sql, const Params& p) {
  const auto values = p.pointers();
  const auto lengths = p.lengths();
  const std::vector<int> formats(static_cast<std::size_t>(p.size()), 1);
  PGresult* r = PQexecParams(conn_, sql.c_str(), p.size(), p.types(), values.data(),
                             lengths.data(), formats.data(), 1);
  return check(r, sql);
}

void Session::exec_plain(const std::string& sql) { check(PQexec(conn_, sql.c_str()), sql); }

Result Session::check(PGresult* r, const std::string& sql) {
  Result res(r);
  const ExecStatusType st = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  if (PQstatus(conn_) != CONNECTION_OK) throw ConnectionLost{last_error()};
  std::string m = r != nullptr ? PQresultErrorMessage(r) : last_error();
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  const std::string first = sql.substr(0, sql.find_first_of("(\n"));
  fail("'" + first + "' failed (" + m + ")");
}

bool Session::run(const char* begin, const std::function<bool()>& f) {
  for (int attempt = 0;; ++attempt) {
    try {
      if (PQstatus(conn_) != CONNECTION_OK) reconnect();
      exec_plain(begin);
    } catch (const ConnectionLost& lost) {
      if (attempt > 0) fail("the database cannot be reached (" + lost.message + ")");
      reconnect();
      continue;
    }
    try {
      if (!f()) {
        exec_plain("ROLLBACK");
        return false;
      }
      exec_plain("COMMIT");
      return true;
    } catch (const ConnectionLost& lost) {
      fail("the connection was lost in the middle of a transaction (" + lost.message +
           "); nothing was changed unless it was committing");
    } catch (...) {
      if (PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
      throw;
    }
  }
}

void Session::read(const std::function<void()>& f) {
  run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [&] {
    f();
    return true;
  });
}

void Session::each_row(const std::string& query,
                       const std::function<void(const Result&, int)>& row, int batch) {
  exec_plain("DECLARE vlrface_rows NO SCROLL CURSOR FOR " + query);
  const std::string fetch = "FETCH " + std::to_string(batch) + " FROM vlrface_rows";
  for (;;) {
    Result r = exec(fetch, {});
    for (int i = 0; i < r.rows(); ++i) row(r, i);
    if (r.rows() < batch) break;
  }
  exec_plain("CLOSE vlrface_rows");
}

std::string Session::meta(const char* key) {
  Result r = exec("SELECT value FROM vlrface.meta WHERE key = $1", Params().text(key));
  return r.rows() > 0 ? r.text(0, 0) : std::string();
}

std::int64_t Session::meta_int(const char* key) {
  const std::string v = meta(key);
  std::int64_t n = 0;
  std::from_chars(v.data(), v.data() + v.size(), n);
  return n;
}

}  // namespace vlrface::detail::pg
