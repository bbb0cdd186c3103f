// The PostgreSQL backend of the gallery: one database shared by several nodes (cameras). The rows
// are the SQLite gallery's (float32 little-endian embeddings, JPEG images, CRC-32 beside each), in
// the schema `vlrface`, versioned in vlrface.meta and migrated step by step under an advisory lock.
// Every change increments vlrface.meta's revision and sends NOTIFY vlrface_gallery with it, so a
// node that LISTENs learns of it at once, and a node that was offline sees a revision it has not
// seen when it reconnects.
#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "gallery_check.hpp"
#include "gallery_common.hpp"
#include "gallery_pg_wire.hpp"
#include "gallery_store.hpp"
#include "vlrface/error.hpp"

namespace vlrface::detail {
namespace {

namespace fs = std::filesystem;
using pg::ConnectionLost;
using pg::Params;
using pg::Result;
using pg::scrub;

inline constexpr int kPgSchemaVersion = 1;
constexpr const char* kChannel = "vlrface_gallery";
// pg_advisory_xact_lock key: one node creates or migrates the schema at a time.
constexpr std::int64_t kMigrationLock = 0x564C5247;

// Migrations: kMigrations[v] brings schema version v to v + 1. Never edit a published step; add
// one.
const char* const kMigrations[] = {
    // 0 -> 1: the tables of the SQLite gallery's schema 2.
    R"sql(
      CREATE TABLE vlrface.people(
        id BIGSERIAL PRIMARY KEY, name TEXT UNIQUE NOT NULL, template BYTEA NOT NULL,
        template_crc BIGINT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
      CREATE TABLE vlrface.faces(
        id BIGSERIAL PRIMARY KEY,
        person_id BIGINT NOT NULL REFERENCES vlrface.people(id) ON DELETE CASCADE,
        image BYTEA NOT NULL, embedding BYTEA NOT NULL, source TEXT NOT NULL DEFAULT '',
        embedding_crc BIGINT NOT NULL, image_crc BIGINT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now());
      CREATE INDEX faces_person ON vlrface.faces(person_id);
    )sql",
};
static_assert(std::size(kMigrations) == kPgSchemaVersion);

class PostgresStore final : public GalleryStore {
 public:
  PostgresStore(std::string url, const GallerySettings& settings)
      : url_(std::move(url)), settings_(settings) {
    where_ = pg::describe(url_, &password_);
  }
  ~PostgresStore() override { PQfinish(conn_); }

  void open(const std::string& build_model_id) {
    connect();
    migrate(build_model_id);
    read_state();
  }

  const fs::path& where() const override { return where_; }
  std::string model_id() const override { return model_id_; }

  InsertCount insert(const std::vector<NewPerson>& people, const InsertOptions& o) override {
    InsertCount count;
    bool model_changed = false;
    write([&](std::int64_t) {
      count = {};
      const std::string stored = meta("model_id");
      model_changed = stored != o.model_id;
      if (model_changed) {
        if (!o.adopt_model_if_empty || count_people() != 0) {
          fail("cannot add faces of model '" + printable(o.model_id) +
               "': it holds embeddings of '" + printable(stored) +
               "'; re-embed it first with `vlrface gallery reembed`");
        }
        exec("UPDATE vlrface.meta SET value = $1 WHERE key = 'model_id'",
             Params().text(o.model_id));
      }
      std::set<std::string> known;
      if (o.skip_known_faces) {
        Result r = exec("SELECT embedding FROM vlrface.faces", {});
        for (int i = 0; i < r.rows(); ++i) known.emplace(r.bytes(i, 0));
      }
      std::optional<std::size_t> dims = stored_dims();
      for (const NewPerson& p : people) {
        auto id = person_id(p.name);
        const bool existed = id.has_value();
        int added = 0;
        for (std::size_t i = 0; i < p.faces.size(); ++i) {
          const NewFace& f = p.faces[i];
          const std::size_t n = f.embedding.size();
          if (dims && n != *dims) {
            fail(p.what + ": face " + std::to_string(i + 1) + " has a " + std::to_string(n) +
                 "-value embedding, the gallery's embeddings have " + std::to_string(*dims) +
                 " values");
          }
          dims = n;
          const std::string embedding = to_blob(f.embedding);
          if (o.skip_known_faces && !known.insert(embedding).second) {
            ++count.faces_skipped;
            continue;
          }
          if (!id) {
            Result r = exec(
                "INSERT INTO vlrface.people(name, template, template_crc) VALUES ($1, '', 0) "
                "RETURNING id",
                Params().text(p.name));
            id = r.i8(0, 0);
          }
          exec(
              "INSERT INTO vlrface.faces(person_id, image, embedding, source, embedding_crc, "
              "image_crc) VALUES ($1, $2, $3, $4, $5, $6)",
              Params()
                  .i8(*id)
                  .bytes(f.jpeg)
                  .bytes(embedding)
                  .text(f.source)
                  .i8(crc_of(embedding))
                  .i8(crc_of(f.jpeg)));
          ++added;
        }
        if (added == 0) continue;
        update_template(*id);
        count.faces_added += added;
        ++(existed ? count.people_extended : count.people_created);
      }
      // Nothing new: rolled back, so the revision stays and no node reloads for nothing.
      return count.faces_added > 0 || model_changed;
    });
    model_id_ = o.model_id;
    return count;
  }

  bool remove_person(const std::string& name) override {
    bool removed = false;
    write([&](std::int64_t) {
      Result r =
          exec("DELETE FROM vlrface.people WHERE name = $1 RETURNING id", Params().text(name));
      removed = r.rows() > 0;
      return removed;
    });
    return removed;
  }

  void rename_person(const std::string& from, const std::string& to) override {
    write([&](std::int64_t) {
      const auto id = person_id(from);
      if (!id) fail("cannot rename: no person named '" + printable(from) + "'");
      if (from == to) return false;
      if (person_id(to)) {
        fail("cannot rename '" + printable(from) + "': a person named '" + printable(to) +
             "' already exists");
      }
      exec("UPDATE vlrface.people SET name = $1 WHERE id = $2", Params().text(to).i8(*id));
      return true;
    });
  }

  bool has_person(const std::string& name) override {
    bool found = false;
    read([&] { found = person_id(name).has_value(); });
    return found;
  }

  std::vector<PersonInfo> people() override {
    std::vector<PersonInfo> out;
    read([&] {
      out.clear();
      Result r = exec(
          "SELECT p.id, p.name, (SELECT count(*) FROM vlrface.faces f WHERE f.person_id = p.id) "
          "FROM vlrface.people p ORDER BY p.name COLLATE \"C\"",
          {});
      for (int i = 0; i < r.rows(); ++i) {
        out.push_back({r.i8(i, 0), r.text(i, 1), static_cast<int>(r.i8(i, 2))});
      }
    });
    return out;
  }

  void for_each_template(const std::function<void(PersonTemplate&&)>& f) override {
    // Through a cursor, a batch at a time: a node loading a large gallery never holds all of its
    // rows twice. `f` runs inside the read; read() retries only before it has started.
    read([&] {
      std::optional<std::size_t> dims;
      each_row(
          "SELECT name, template, template_crc FROM vlrface.people ORDER BY name COLLATE \"C\"",
          [&](const Result& r, int i) {
            PersonTemplate t = template_row(r, i);
            if (dims && t.embedding.size() != *dims) {
              damaged("the template of '" + printable(t.name) + "' has " +
                      std::to_string(t.embedding.size()) + " values, the others " +
                      std::to_string(*dims));
            }
            dims = t.embedding.size();
            f(std::move(t));
          });
    });
  }

  std::vector<TemplateVersion> template_versions() override {
    std::vector<TemplateVersion> out;
    read([&] {
      out.clear();
      each_row("SELECT name, template_crc FROM vlrface.people ORDER BY name COLLATE \"C\"",
               [&](const Result& r, int i) { out.push_back({r.text(i, 0), r.i8(i, 1)}); },
               10000);  // names and integers: ~0.3 MB a batch
    });
    return out;
  }

  void for_each_template_of(const std::vector<std::string>& names,
                            const std::function<void(PersonTemplate&&)>& f) override {
    read([&] {  // one snapshot: the templates of one moment
      for (const auto& name : names) {
        Result r = exec("SELECT name, template, template_crc FROM vlrface.people WHERE name = $1",
                        Params().text(name));
        if (r.rows() > 0) f(template_row(r, 0));
      }
    });
  }

  std::optional<std::vector<StoredRow>> faces(const std::string& name) override {
    std::optional<std::vector<StoredRow>> out;
    read([&] {
      out.reset();
      const auto id = person_id(name);
      if (id) out = face_rows(*id, "'" + printable(name) + "'");
    });
    return out;
  }

  std::size_t size() override {
    std::size_t n = 0;
    read([&] { n = static_cast<std::size_t>(count_people()); });
    return n;
  }

  void for_each_person(const std::function<void(PersonRecord&&)>& f) override {
    // One person at a time from a cursor (export and copy of a large gallery stay small).
    read([&] {
      each_row(
          "SELECT id, name, template, template_crc FROM vlrface.people ORDER BY name COLLATE \"C\"",
          [&](const Result& r, int i) {
            PersonRecord p;
            p.name = r.text(i, 1);
            const std::string who = "'" + printable(p.name) + "'";
            p.template_embedding =
                embedding(verified(r, i, 2, 3, "the template of " + who), "a template");
            p.faces = face_rows(r.i8(i, 0), who);
            f(std::move(p));
          });
    });
  }

  void replace_embeddings(const std::vector<std::pair<std::int64_t, std::vector<float>>>& by_id,
                          const std::string& new_model_id) override {
    write([&](std::int64_t) {
      std::vector<std::int64_t> ids, given;
      Result r = exec("SELECT id FROM vlrface.faces ORDER BY id", {});
      for (int i = 0; i < r.rows(); ++i) ids.push_back(r.i8(i, 0));
      for (const auto& [id, e] : by_id) given.push_back(id);
      std::sort(given.begin(), given.end());
      if (given != ids) {
        fail("cannot re-embed: the gallery changed while its faces were embedded; run it again");
      }
      for (const auto& [id, e] : by_id) {
        const std::string blob = to_blob(e);
        exec("UPDATE vlrface.faces SET embedding = $1, embedding_crc = $2 WHERE id = $3",
             Params().bytes(blob).i8(crc_of(blob)).i8(id));
      }
      Result people = exec("SELECT id FROM vlrface.people", {});
      for (int i = 0; i < people.rows(); ++i) update_template(people.i8(i, 0));
      exec("UPDATE vlrface.meta SET value = $1 WHERE key = 'model_id'",
           Params().text(new_model_id));
      return true;
    });
    model_id_ = new_model_id;
  }

  bool refresh_if_changed() override {
    if (!listening_ || PQstatus(conn_) != CONNECTION_OK) {
      // First call, or the server went away: (re)connect, listen, and compare revisions, which
      // also catches whatever changed while this node was not listening.
      if (PQstatus(conn_) != CONNECTION_OK) reconnect();
      listen();
      return revision_moved();
    }
    if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) {
      reconnect();
      listen();
      return revision_moved();
    }
    bool notified = false;
    while (PGnotify* n = PQnotifies(conn_)) {
      notified = true;
      PQfreemem(n);
    }
    return notified && revision_moved();
  }

  std::int64_t revision() override {
    std::int64_t rev = 0;
    read([&] { rev = meta_int("revision"); });
    return rev;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("gallery", where_.string() + ": " + scrub(what, password_));
  }
  [[noreturn]] void damaged(const std::string& what) const {
    fail("damaged: " + what + " (run 'vlrface gallery check' to see who is still readable)");
  }

  void connect() {
    PQfinish(conn_);
    conn_ = PQconnectdb(url_.c_str());
    listening_ = false;
    if (conn_ == nullptr) fail("cannot connect (out of memory)");
    if (PQstatus(conn_) != CONNECTION_OK) fail("cannot connect (" + last_error() + ")");
    // Notices (e.g. "already exists, skipping") would go to stderr by default.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }

  void reconnect() {
    PQreset(conn_);
    listening_ = false;
    if (PQstatus(conn_) != CONNECTION_OK) {
      fail("the database cannot be reached (" + last_error() + "); it is tried again");
    }
  }

  void listen() {
    exec_plain(std::string("LISTEN ") + kChannel);
    listening_ = true;
  }

  bool revision_moved() {
    std::int64_t rev = 0;
    std::string model;
    read([&] {
      rev = meta_int("revision");
      model = meta("model_id");
      const std::int64_t schema = meta_int("schema_version");
      if (schema > kPgSchemaVersion) {
        fail("schema version " + std::to_string(schema) + " is newer than this build supports (" +
             std::to_string(kPgSchemaVersion) + "); upgrade vlrface");
      }
    });
    if (!model.empty()) model_id_ = model;
    if (rev == revision_) return false;
    revision_ = rev;
    return true;
  }

  std::string last_error() const {
    std::string m = conn_ != nullptr ? PQerrorMessage(conn_) : "no connection";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    for (char& c : m)
      if (c == '\n' || c == '\t') c = ' ';
    return scrub(m, password_);
  }

  Result exec(const std::string& sql, const Params& p) {
    const auto values = p.pointers();
    const auto lengths = p.lengths();
    const std::vector<int> formats(static_cast<std::size_t>(p.size()), 1);
    PGresult* r = PQexecParams(conn_, sql.c_str(), p.size(), p.types(), values.data(),
                               lengths.data(), formats.data(), 1);
    return check(r, sql);
  }

  void exec_plain(const std::string& sql) { check(PQexec(conn_, sql.c_str()), sql); }

  Result check(PGresult* r, const std::string& sql) {
    Result res(r);
    const ExecStatusType st = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
    if (PQstatus(conn_) != CONNECTION_OK) throw ConnectionLost{last_error()};
    std::string m = r != nullptr ? PQresultErrorMessage(r) : last_error();
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    const std::string first = sql.substr(0, sql.find_first_of("(\n"));
    fail("'" + first + "' failed (" + m + ")");
  }

  // Runs `f` in a read-only snapshot. A connection found dead at the start (the server
  // restarted since the last use) is re-opened first; once `f` has started it is never run
  // again, so `f` may hand rows to callers as it reads them.
  void read(const std::function<void()>& f) {
    run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [&] {
      f();
      return true;
    });
  }

  // Runs `f` in a write transaction holding the gallery's write lock (the revision row), with
  // the revision it will have; commits, increments the revision and notifies when `f` returns
  // true, rolls back otherwise.
  void write(const std::function<bool(std::int64_t)>& f) {
    std::int64_t rev = 0;
    const bool committed = run("BEGIN", [&] {
      Result r = exec(
          "UPDATE vlrface.meta SET value = (value::bigint + 1)::text WHERE key = 'revision' "
          "RETURNING value::bigint",
          {});
      if (r.rows() != 1) fail("is damaged (no revision in vlrface.meta)");
      rev = r.i8(0, 0);
      if (!f(rev)) return false;
      exec("SELECT pg_notify($1, $2)", Params().text(kChannel).text(std::to_string(rev)));
      return true;
    });
    // Our own change is no news to this object, unless someone else's came in between.
    if (committed && rev == revision_ + 1) revision_ = rev;
  }

  bool run(const char* begin, const std::function<bool()>& f) {
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

  // Calls `row` for every row of `query` (no parameters), fetched through a cursor in batches;
  // must run inside a transaction.
  // `batch` rows a round trip: 256 rows of templates are ~0.5 MB; small rows take more at once.
  void each_row(const std::string& query, const std::function<void(const Result&, int)>& row,
                int batch = 256) {
    exec_plain("DECLARE vlrface_rows NO SCROLL CURSOR FOR " + query);
    const std::string fetch = "FETCH " + std::to_string(batch) + " FROM vlrface_rows";
    for (;;) {
      Result r = exec(fetch, {});
      for (int i = 0; i < r.rows(); ++i) row(r, i);
      if (r.rows() < batch) break;
    }
    exec_plain("CLOSE vlrface_rows");
  }

  std::string meta(const char* key) {
    Result r = exec("SELECT value FROM vlrface.meta WHERE key = $1", Params().text(key));
    return r.rows() > 0 ? r.text(0, 0) : std::string();
  }
  std::int64_t meta_int(const char* key) {
    const std::string v = meta(key);
    std::int64_t n = 0;
    std::from_chars(v.data(), v.data() + v.size(), n);
    return n;
  }

  // Creates the schema, or brings it to this build's version, one migration step at a time.
  void migrate(const std::string& build_model_id) {
    const auto version = [&] {
      // pg_tables, read with the statement's snapshot: to_regclass() would consult the
      // session's catalog cache, which taking an advisory lock does not refresh, and miss a
      // schema another node committed while this one waited for the lock.
      Result r = exec(
          "SELECT count(*) FROM pg_catalog.pg_tables "
          "WHERE schemaname = 'vlrface' AND tablename = 'meta'",
          {});
      if (r.i8(0, 0) == 0) return std::int64_t{-1};
      return meta_int("schema_version");
    };
    std::int64_t v = version();
    if (v > kPgSchemaVersion) {
      fail("schema version " + std::to_string(v) + " is newer than this build supports (" +
           std::to_string(kPgSchemaVersion) + "); upgrade vlrface");
    }
    if (v == kPgSchemaVersion) return;
    if (v < 0 && !settings_.create_if_missing) {
      fail("no vlrface gallery in this database (enroll someone first)");
    }
    // Only a node that must change the schema needs the right to: the others only read it.
    run("BEGIN", [&] {
      exec("SELECT pg_advisory_xact_lock($1)", Params().i8(kMigrationLock));
      v = version();  // another node may have done it while this one waited
      if (v < 0) {
        exec_plain("CREATE SCHEMA IF NOT EXISTS vlrface");
        exec_plain("CREATE TABLE vlrface.meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
        for (const auto& [key, value] :
             std::vector<std::pair<std::string, std::string>>{{"format", "vlrface-gallery"},
                                                              {"schema_version", "0"},
                                                              {"model_id", build_model_id},
                                                              {"revision", "0"}}) {
          exec("INSERT INTO vlrface.meta(key, value) VALUES ($1, $2)",
               Params().text(key).text(value));
        }
        exec_plain(
            "INSERT INTO vlrface.meta(key, value) VALUES ('created_at', "
            "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))");
        v = 0;
      }
      if (meta("format") != "vlrface-gallery") {
        fail("is not a vlrface gallery (vlrface.meta's format is '" + printable(meta("format")) +
             "')");
      }
      for (; v < kPgSchemaVersion; ++v) {
        exec_plain(kMigrations[v]);
        exec("UPDATE vlrface.meta SET value = $1 WHERE key = 'schema_version'",
             Params().text(std::to_string(v + 1)));
      }
      return true;
    });
  }

  void read_state() {
    read([&] {
      if (meta("format") != "vlrface-gallery") {
        fail("is not a vlrface gallery (vlrface.meta's format is '" + printable(meta("format")) +
             "')");
      }
      model_id_ = meta("model_id");
      revision_ = meta_int("revision");
    });
    if (model_id_.empty()) fail("is not a vlrface gallery (no model_id)");
  }

  std::int64_t count_people() {
    Result r = exec("SELECT count(*) FROM vlrface.people", {});
    return r.i8(0, 0);
  }

  std::optional<std::int64_t> person_id(const std::string& name) {
    Result r = exec("SELECT id FROM vlrface.people WHERE name = $1", Params().text(name));
    if (r.rows() == 0) return std::nullopt;
    return r.i8(0, 0);
  }

  std::optional<std::size_t> stored_dims() {
    Result r = exec("SELECT length(embedding)::bigint FROM vlrface.faces LIMIT 1", {});
    if (r.rows() == 0) return std::nullopt;
    return static_cast<std::size_t>(r.i8(0, 0)) / 4;
  }

  // Row `i` of (name, template, template_crc), checked against its checksum.
  PersonTemplate template_row(const Result& r, int i) const {
    std::string name = r.text(i, 0);
    const std::string what = "the template of '" + printable(name) + "'";
    auto t = embedding(verified(r, i, 1, 2, what), what);
    return {std::move(name), std::move(t), r.i8(i, 2)};
  }

  std::string_view verified(const Result& r, int row, int col, int crc_col,
                            const std::string& what) const {
    const std::string_view bytes = r.bytes(row, col);
    if (r.null(row, crc_col) || r.i8(row, crc_col) != crc_of(bytes)) {
      damaged(what + " fails its checksum");
    }
    return bytes;
  }

  std::vector<float> embedding(std::string_view blob, const std::string& what) const {
    auto v = from_blob(blob);
    if (!v) fail("is damaged (" + what + " has " + std::to_string(blob.size()) + " bytes)");
    return std::move(*v);
  }

  std::vector<StoredRow> face_rows(std::int64_t person, const std::string& who) {
    Result r = exec(
        "SELECT id, source, embedding, image, embedding_crc, image_crc FROM vlrface.faces "
        "WHERE person_id = $1 ORDER BY id",
        Params().i8(person));
    std::vector<StoredRow> out;
    for (int i = 0; i < r.rows(); ++i) {
      StoredRow row;
      row.id = r.i8(i, 0);
      row.source = r.text(i, 1);
      const std::string what = "face #" + std::to_string(row.id) + " of " + who;
      row.embedding =
          embedding(verified(r, i, 2, 4, "the embedding of " + what), "the embedding of " + what);
      row.jpeg = std::string(verified(r, i, 3, 5, "the image of " + what));
      out.push_back(std::move(row));
    }
    return out;
  }

  void update_template(std::int64_t id) {
    Result r = exec(
        "SELECT id, embedding, embedding_crc FROM vlrface.faces WHERE person_id = $1 ORDER BY id",
        Params().i8(id));
    std::vector<std::vector<float>> embeddings;
    for (int i = 0; i < r.rows(); ++i) {
      const std::string what = "the embedding of face #" + std::to_string(r.i8(i, 0));
      embeddings.push_back(embedding(verified(r, i, 1, 2, what), what));
    }
    const auto t = mean_template(embeddings);
    if (!t) fail("is damaged (an embedding of person #" + std::to_string(id) + " is invalid)");
    const std::string blob = to_blob(*t);
    exec("UPDATE vlrface.people SET template = $1, template_crc = $2 WHERE id = $3",
         Params().bytes(blob).i8(crc_of(blob)).i8(id));
  }

  std::string url_;  // with the password, if it has one: only ever given to libpq
  std::string password_;
  fs::path where_;
  GallerySettings settings_;
  PGconn* conn_ = nullptr;
  bool listening_ = false;
  std::string model_id_;
  std::int64_t revision_ = 0;  // the revision this object last knew of
};

}  // namespace

std::unique_ptr<GalleryStore> open_postgres_store(const std::string& url,
                                                  const std::string& build_model_id,
                                                  const GallerySettings& settings) {
  auto store = std::make_unique<PostgresStore>(url, settings);
  store->open(build_model_id);
  return store;
}

}  // namespace vlrface::detail
