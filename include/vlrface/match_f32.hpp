// vlrface/match_f32.hpp — the plain float32 brute-force matcher, the reference for Matcher.
//
// Every probe reads every template as float32: N x dim x 4 bytes (200 MB at 100,000 people).
// vlrface::Matcher (match.hpp) gives the same answers from a quarter of that; this one stays as
// the baseline `vlrface bench --gallery-scale N` measures it against in the same run, and as the
// reference of its tests. Same interface and thread safety as Matcher.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vlrface/gallery.hpp"
#include "vlrface/match_types.hpp"

namespace vlrface {

class Float32Matcher {
 public:
  Float32Matcher() = default;
  // Throws Error("match", ...) when templates differ in length.
  explicit Float32Matcher(const std::vector<PersonTemplate>& templates);

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
