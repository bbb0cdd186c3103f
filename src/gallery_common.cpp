#include "gallery_common.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>

#include "gallery_check.hpp"
#include "gallery_store.hpp"
#include "vlrface/gallery.hpp"

namespace vlrface::detail {
namespace {

constexpr std::size_t kMaxNameBytes = 128;

// Returns the code points of `s`, or nullopt when it is not valid UTF-8 (nlohmann::json refuses
// to export invalid UTF-8, so such a name could never leave the gallery again).
std::optional<std::vector<char32_t>> decode_utf8(std::string_view s) {
  std::vector<char32_t> cps;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + extra >= s.size() && extra > 0) return std::nullopt;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    cps.push_back(cp);
    i += extra + 1;
  }
  return cps;
}

double l2_norm(const std::vector<float>& v) {
  double sum = 0;
  for (const float x : v) sum += double{x} * x;
  return std::sqrt(sum);
}

}  // namespace

std::optional<std::string> person_name_problem(const std::string& name) {
  const std::string shown = "person name '" + printable(name) + "'";
  if (name.empty()) return "person name is empty";
  if (name.size() > kMaxNameBytes) {
    return "person name is " + std::to_string(name.size()) + " bytes long; at most " +
           std::to_string(kMaxNameBytes) + " are allowed";
  }
  const auto cps = decode_utf8(name);
  if (!cps) return shown + " is not valid UTF-8";
  // Names become folder and file names when a gallery is exported to or shared with other tools.
  if (name.find_first_of("/\\") != std::string::npos) return shown + " contains '/' or '\\'";
  for (const char32_t cp : *cps) {
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return shown + " contains a control character";
  }
  if (name.front() == ' ' || name.back() == ' ') return shown + " starts or ends with a space";
  if (name == "." || name == "..") return shown + " is reserved";
  // The CLI prints "unknown" for a face it does not know and JSON has null for it: a person of
  // either name would read as no match.
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "unknown" || lower == "null") {
    return shown + " is reserved: it is what a face that matches no one is called";
  }
  return std::nullopt;
}

std::optional<std::string> embedding_problem(const std::vector<float>& e) {
  if (e.empty()) return "embedding is empty";
  if (!std::all_of(e.begin(), e.end(), [](float x) { return std::isfinite(x); })) {
    return "embedding contains NaN or infinite values";
  }
  if (l2_norm(e) == 0) return "embedding is all zeros";
  return std::nullopt;
}

std::string to_blob(const std::vector<float>& v) {
  std::string out(v.size() * 4, '\0');
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto u = std::bit_cast<std::uint32_t>(v[i]);
    for (int b = 0; b < 4; ++b) out[4 * i + b] = static_cast<char>((u >> (8 * b)) & 0xFF);
  }
  return out;
}

std::optional<std::vector<float>> from_blob(std::string_view bytes) {
  if (bytes.size() % 4 != 0) return std::nullopt;
  std::vector<float> v(bytes.size() / 4);
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint32_t u = 0;
    for (int b = 0; b < 4; ++b)
      u |= std::uint32_t{static_cast<unsigned char>(bytes[4 * i + b])} << (8 * b);
    v[i] = std::bit_cast<float>(u);
  }
  return v;
}

std::int64_t crc_of(std::string_view bytes) {
  return static_cast<std::int64_t>(gallery_crc32(bytes));
}

std::optional<std::vector<float>> mean_template(const std::vector<std::vector<float>>& embeddings) {
  std::vector<double> sum;
  for (const auto& e : embeddings) {
    if (sum.empty()) sum.assign(e.size(), 0.0);
    const double norm = l2_norm(e);
    if (e.size() != sum.size() || norm == 0) return std::nullopt;
    for (std::size_t i = 0; i < e.size(); ++i) sum[i] += e[i] / norm;
  }
  double norm = 0;
  for (const double x : sum) norm += x * x;
  norm = std::sqrt(norm);
  std::vector<float> t(sum.size());
  for (std::size_t i = 0; i < sum.size(); ++i) {
    t[i] = static_cast<float>(norm > 0 ? sum[i] / norm : 0.0);
  }
  return t;
}

std::string newer_schema_message(std::int64_t version, std::int64_t supported) {
  return "schema version " + std::to_string(version) + " is newer than this build supports (" +
         std::to_string(supported) + "); upgrade vlrface";
}

bool is_postgres_url(std::string_view s) {
  return s.starts_with("postgresql://") || s.starts_with("postgres://");
}

InsertPlan plan_insert(const std::vector<NewPerson>& people, std::optional<std::size_t> dims,
                       std::set<std::string> known, bool skip_known_faces) {
  InsertPlan plan;
  for (const NewPerson& p : people) {
    InsertPlan::Person planned{.person = &p, .faces = {}};
    for (std::size_t i = 0; i < p.faces.size(); ++i) {
      const NewFace& f = p.faces[i];
      const std::size_t n = f.embedding.size();
      if (dims && n != *dims) {
        plan.problem = p.what + ": face " + std::to_string(i + 1) + " has a " +
                       std::to_string(n) + "-value embedding, the gallery's embeddings have " +
                       std::to_string(*dims) + " values";
        return plan;
      }
      dims = n;
      std::string embedding = to_blob(f.embedding);
      if (skip_known_faces && !known.insert(embedding).second) {
        ++plan.faces_skipped;
        continue;
      }
      planned.faces.emplace_back(&f, std::move(embedding));
    }
    if (!planned.faces.empty()) plan.people.push_back(std::move(planned));
  }
  return plan;
}

}  // namespace vlrface::detail
