// Private to the gallery's PostgreSQL backend: the schema `vlrface`, versioned in vlrface.meta
// and created or migrated step by step under an advisory lock, so nodes starting together never
// race to change it.
#pragma once

#include <cstdint>
#include <string>

#include "gallery_pg_session.hpp"

namespace vlrface::detail::pg {

inline constexpr std::int64_t kPgSchemaVersion = 1;

// Creates the schema (when `create_if_missing`; otherwise an empty database is an error), or
// brings it to this build's version one migration at a time. A schema newer than this build,
// or a vlrface.meta that is not a vlrface gallery's, is refused by name.
void migrate(Session& db, const std::string& build_model_id, bool create_if_missing);

// fail() unless a schema of version `schema` is one this build reads.
void check_schema_version(const Session& db, std::int64_t schema);
// fail() unless vlrface.meta says this is a vlrface gallery (inside a transaction).
void check_format(Session& db);

}  // namespace vlrface::detail::pg
