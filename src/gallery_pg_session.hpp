// Private to the gallery's PostgreSQL backend: one libpq connection and its transactions -- a
// read-only snapshot, a write retried once when the connection was found dead before it began,
// cursors for large reads, LISTEN/NOTIFY -- with every failure an Error("gallery", ...) naming
// the database (never its password).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "gallery_pg_wire.hpp"

namespace vlrface::detail::pg {

class Session {
 public:
  // Connects nothing yet (connect()). Error("gallery", ...) when `url` is no valid URI.
  explicit Session(std::string url);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // postgresql://user@host:port/dbname, for messages.
  const std::filesystem::path& where() const { return where_; }
  // Error("gallery", "<where>: <what>"), the password scrubbed from `what`.
  [[noreturn]] void fail(const std::string& what) const;

  void connect();    // a new connection; fails naming why
  void reconnect();  // the same connection re-established (PQreset); fails naming why
  bool connected() const;

  // LISTEN on `channel`; a (re)connection forgets it.
  void listen(const std::string& channel);
  bool listening() const { return listening_; }
  // Reads what the server sent and drops the notifications received: whether there was one, or
  // nothing when the connection is gone (reconnect and listen again).
  std::optional<bool> take_notifications();

  // One statement with binary parameters and results. ConnectionLost when the connection is
  // gone, fail() for any other error.
  Result exec(const std::string& sql, const Params& p);
  void exec_plain(const std::string& sql);

  // Runs `f` in a transaction opened by `begin`: committed when `f` returns true, rolled back
  // when it returns false or throws. A connection found dead before the transaction began (the
  // server restarted since the last use) is re-opened and the transaction tried once more; once
  // `f` has started it is never run again, so `f` may hand rows to callers as it reads them.
  bool run(const char* begin, const std::function<bool()>& f);
  // run() in a read-only snapshot.
  void read(const std::function<void()>& f);

  // Calls `row` for every row of `query` (no parameters), fetched through a cursor `batch` rows
  // a round trip; must run inside a transaction.
  void each_row(const std::string& query, const std::function<void(const Result&, int)>& row,
                int batch = 256);

  // vlrface.meta's value for `key` ("" when absent), and as an integer (0 when not one).
  std::string meta(const char* key);
  std::int64_t meta_int(const char* key);

 private:
  std::string last_error() const;
  Result check(PGresult* r, const std::string& sql);

  std::string url_;  // with the password, if it has one: only ever given to libpq
  std::string password_;
  std::filesystem::path where_;
  PGconn* conn_ = nullptr;
  bool listening_ = false;
};

}  // namespace vlrface::detail::pg
