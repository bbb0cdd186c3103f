// Private to the gallery's PostgreSQL backend (gallery_pg.cpp): libpq's wire in C++ -- binary
// query parameters and results, the one failure worth a reconnect, and the connection URL shown
// without its password.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vlrface::detail::pg {

inline constexpr Oid kInt8 = 20, kText = 25, kBytea = 17;

// The connection lost (server restarted, network gone): the one failure worth a reconnect.
struct ConnectionLost {
  std::string message;
};

// Query parameters, all sent in binary: int8 big-endian, text and bytea as their bytes.
class Params {
 public:
  Params& i8(std::int64_t v) {
    std::string b(8, '\0');
    const auto u = static_cast<std::uint64_t>(v);
    for (int k = 0; k < 8; ++k) b[k] = static_cast<char>((u >> (56 - 8 * k)) & 0xFF);
    return add(kInt8, std::move(b));
  }
  Params& text(std::string_view s) { return add(kText, std::string(s)); }
  Params& bytes(std::string_view s) { return add(kBytea, std::string(s)); }

  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.data(); }
  std::vector<const char*> pointers() const {
    std::vector<const char*> p;
    for (const auto& v : values_) p.push_back(v.data());
    return p;
  }
  std::vector<int> lengths() const {
    std::vector<int> l;
    for (const auto& v : values_) l.push_back(static_cast<int>(v.size()));
    return l;
  }

 private:
  Params& add(Oid t, std::string v) {
    types_.push_back(t);
    values_.push_back(std::move(v));
    return *this;
  }
  std::vector<Oid> types_;
  std::vector<std::string> values_;
};

class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const { return PQntuples(r_); }
  bool null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string_view bytes(int row, int col) const {
    return {PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col))};
  }
  std::string text(int row, int col) const { return std::string(bytes(row, col)); }
  // A binary int8 column (every integer the queries here return is cast to bigint).
  std::int64_t i8(int row, int col) const {
    const std::string_view b = bytes(row, col);
    std::uint64_t v = 0;
    for (const char c : b) v = (v << 8) | static_cast<unsigned char>(c);
    return static_cast<std::int64_t>(v);
  }

 private:
  PGresult* r_;
};

// `text` with every occurrence of `password` replaced by ***: libpq does not put passwords in its
// messages; this makes sure of it for ours too.
std::string scrub(std::string text, const std::string& password);

// Where the gallery is, for messages: postgresql://user@host:port/dbname, never the password
// (stored in *password, for scrub()). Error("gallery", ...) when `url` is no valid URI; the
// message does not show it.
std::string describe(const std::string& url, std::string* password);

}  // namespace vlrface::detail::pg
