// Private to the core: what every gallery backend (SQLite, PostgreSQL) and the gallery's file
// formats share -- name rules, the stored form of embeddings, templates.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vlrface::detail {

inline constexpr int kGalleryFaceSize = 112;

// Why `name` cannot be a person's name, or nullopt.
std::optional<std::string> person_name_problem(const std::string& name);

// Why the embedding cannot be stored (empty, NaN/inf, all zeros), or nullopt.
std::optional<std::string> embedding_problem(const std::vector<float>& e);

// Embeddings are stored as float32 little-endian whatever the host, so galleries can be copied
// between machines (and between SQLite and PostgreSQL) byte for byte.
std::string to_blob(const std::vector<float>& v);
std::optional<std::vector<float>> from_blob(std::string_view bytes);

// What a blob's checksum column holds: its CRC-32, as a non-negative integer.
std::int64_t crc_of(std::string_view bytes);

// A person's template: the L2-normalised mean of their L2-normalised embeddings. Embeddings
// that cancel out give a zero template, which matches nobody. Empty when `embeddings` is.
// Returns nullopt when the embeddings differ in length or one of them is all zeros.
std::optional<std::vector<float>> mean_template(const std::vector<std::vector<float>>& embeddings);

// "schema version V is newer than this build supports (S); upgrade vlrface": every backend's
// refusal of a gallery written by a newer vlrface.
std::string newer_schema_message(std::int64_t version, std::int64_t supported);

// A connection string that names a PostgreSQL gallery rather than a file.
bool is_postgres_url(std::string_view s);

}  // namespace vlrface::detail
