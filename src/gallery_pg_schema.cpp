#include "gallery_pg_schema.hpp"

#include <iterator>
#include <utility>
#include <vector>

#include "gallery_check.hpp"
#include "gallery_common.hpp"

namespace vlrface::detail::pg {
namespace {

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

// The schema version, -1 when there is no schema yet.
std::int64_t stored_version(Session& db) {
  // pg_tables, read with the statement's snapshot: to_regclass() would consult the session's
  // catalog cache, which taking an advisory lock does not refresh, and miss a schema another
  // node committed while this one waited for the lock.
  Result r = db.exec(
      "SELECT count(*) FROM pg_catalog.pg_tables "
      "WHERE schemaname = 'vlrface' AND tablename = 'meta'",
      {});
  if (r.i8(0, 0) == 0) return -1;
  return db.meta_int("schema_version");
}

void create_meta(Session& db, const std::string& build_model_id) {
  db.exec_plain("CREATE SCHEMA IF NOT EXISTS vlrface");
  db.exec_plain("CREATE TABLE vlrface.meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"format", "vlrface-gallery"},
                                                        {"schema_version", "0"},
                                                        {"model_id", build_model_id},
                                                        {"revision", "0"}}) {
    db.exec("INSERT INTO vlrface.meta(key, value) VALUES ($1, $2)",
            Params().text(key).text(value));
  }
  db.exec_plain(
      "INSERT INTO vlrface.meta(key, value) VALUES ('created_at', "
      "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))");
}

}  // namespace

void check_schema_version(const Session& db, std::int64_t schema) {
  if (schema > kPgSchemaVersion) {
    db.fail(newer_schema_message(schema, kPgSchemaVersion));
  }
}

void check_format(Session& db) {
  const std::string format = db.meta("format");
  if (format != "vlrface-gallery") {
    db.fail("is not a vlrface gallery (vlrface.meta's format is '" + printable(format) + "')");
  }
}

void migrate(Session& db, const std::string& build_model_id, bool create_if_missing) {
  std::int64_t v = stored_version(db);
  check_schema_version(db, v);
  if (v == kPgSchemaVersion) return;
  if (v < 0 && !create_if_missing) db.fail("no vlrface gallery in this database (enroll someone first)");
  // Only a node that must change the schema needs the right to: the others only read it.
  db.run("BEGIN", [&] {
    db.exec("SELECT pg_advisory_xact_lock($1)", Params().i8(kMigrationLock));
    v = stored_version(db);  // another node may have done it while this one waited
    if (v < 0) {
      create_meta(db, build_model_id);
      v = 0;
    }
    check_format(db);
    for (; v < kPgSchemaVersion; ++v) {
      db.exec_plain(kMigrations[v]);
      db.exec("UPDATE vlrface.meta SET value = $1 WHERE key = 'schema_version'",
              Params().text(std::to_string(v + 1)));
    }
    return true;
  });
}

}  // namespace vlrface::detail::pg
