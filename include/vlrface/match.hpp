// vlrface/match.hpp — cosine search of a probe embedding against enrolled templates.
//
// Usage:
//   vlrface::Matcher m(gallery.templates());
//   vlrface::MatchResult r = m.match(probe, {.top_k = 5, .threshold = 0.35f});
//   if (r.name) ... else "unknown"
// Templates are kept as one contiguous row-major matrix so 10,000 people are one pass over memory.
// Thread safety: match() is const and may run on many threads at once.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vlrface/gallery.hpp"

namespace vlrface {

struct Candidate {
  std::string name;
  float similarity = 0;
};

struct MatchOptions {
  int top_k = 5;
  float threshold = 0.35f;  // at or below it, the best candidate is "unknown" (same iff >)
};

struct MatchResult {
  std::optional<std::string> name;  // empty: unknown (or empty gallery)
  float similarity = 0;             // of the best candidate, even when unknown
  std::vector<Candidate> top;       // best first, at most top_k
};

class Matcher {
 public:
  Matcher() = default;
  // Throws Error("match", ...) when templates differ in length.
  explicit Matcher(const std::vector<PersonTemplate>& templates);

  // Built row by row (Gallery::for_each_template), so that a large gallery's templates are
  // never in memory twice, as a vector and as this matrix. add() throws Error("match", ...)
  // when the length differs from the first row's.
  void reserve(std::size_t people);
  void add(const std::string& name, std::span<const float> embedding);

  MatchResult match(std::span<const float> probe, const MatchOptions& options = {}) const;
  // 1:1 — similarity to one person; nullopt when unknown.
  std::optional<float> similarity_to(std::span<const float> probe, const std::string& name) const;

  std::size_t size() const { return names_.size(); }
  int dim() const { return dim_; }

 private:
  std::vector<std::string> names_;
  std::vector<float> matrix_;  // size() x dim_, rows L2-normalised
  int dim_ = 0;
  std::size_t reserved_ = 0;
};

}  // namespace vlrface
