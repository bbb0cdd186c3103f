#include "gallery_pg_wire.hpp"

#include <map>

#include "vlrface/error.hpp"

namespace vlrface::detail::pg {

std::string scrub(std::string text, const std::string& password) {
  if (password.size() < 3) return text;
  for (std::size_t at; (at = text.find(password)) != std::string::npos;) {
    text.replace(at, password.size(), "***");
  }
  return text;
}

std::string describe(const std::string& url, std::string* password) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    std::string why = err != nullptr ? err : "out of memory";
    PQfreemem(err);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    // The URL itself is not shown: it may hold a password.
    throw Error("gallery",
                "the gallery database address is not a valid postgresql:// URI (" + why + ")");
  }
  std::map<std::string, std::string> v;
  for (const PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) v[o->keyword] = o->val;
  }
  PQconninfoFree(opts);
  *password = v["password"];
  std::string out = "postgresql://";
  if (!v["user"].empty()) out += v["user"] + "@";
  out += v["host"].empty() ? (v["hostaddr"].empty() ? "localhost" : v["hostaddr"]) : v["host"];
  if (!v["port"].empty()) out += ":" + v["port"];
  out += "/" + v["dbname"];
  return scrub(out, *password);
}

}  // namespace vlrface::detail::pg
