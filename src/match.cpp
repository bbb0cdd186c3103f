#include "vlrface/match.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "vlrface/error.hpp"

namespace vlrface {
namespace {

float dot(const float* a, const float* b, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

std::vector<float> normalised(std::span<const float> v) {
  std::vector<float> out(v.begin(), v.end());
  double n = 0;
  for (float x : out) n += double(x) * x;
  n = std::sqrt(n);
  if (n > 0) {
    for (float& x : out) x = static_cast<float>(x / n);
  }
  return out;
}

}  // namespace

Matcher::Matcher(const std::vector<PersonTemplate>& templates) {
  if (templates.empty()) return;
  dim_ = static_cast<int>(templates.front().embedding.size());
  matrix_.reserve(templates.size() * static_cast<std::size_t>(dim_));
  for (const auto& t : templates) {
    if (static_cast<int>(t.embedding.size()) != dim_) {
      throw Error("match", "template of '" + t.name + "' has " +
                               std::to_string(t.embedding.size()) + " values, expected " +
                               std::to_string(dim_));
    }
    const auto row = normalised(t.embedding);
    matrix_.insert(matrix_.end(), row.begin(), row.end());
    names_.push_back(t.name);
  }
}

MatchResult Matcher::match(std::span<const float> probe, const MatchOptions& options) const {
  MatchResult r;
  if (names_.empty()) return r;
  if (static_cast<int>(probe.size()) != dim_) {
    throw Error("match", "probe has " + std::to_string(probe.size()) + " values, gallery " +
                             std::to_string(dim_));
  }
  const auto p = normalised(probe);
  std::vector<float> sims(names_.size());
  for (std::size_t i = 0; i < names_.size(); ++i) {
    sims[i] = dot(p.data(), matrix_.data() + i * static_cast<std::size_t>(dim_), dim_);
  }
  const std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(std::max(1, options.top_k)),
                                              names_.size());
  std::vector<std::size_t> order(names_.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::size_t a, std::size_t b) { return sims[a] > sims[b]; });
  for (std::size_t i = 0; i < k; ++i) r.top.push_back({names_[order[i]], sims[order[i]]});
  r.similarity = r.top.front().similarity;
  if (r.similarity >= options.threshold) r.name = r.top.front().name;
  return r;
}

std::optional<float> Matcher::similarity_to(std::span<const float> probe,
                                            const std::string& name) const {
  auto it = std::find(names_.begin(), names_.end(), name);
  if (it == names_.end()) return std::nullopt;
  if (static_cast<int>(probe.size()) != dim_) throw Error("match", "probe dimension mismatch");
  const auto p = normalised(probe);
  const auto i = static_cast<std::size_t>(it - names_.begin());
  return dot(p.data(), matrix_.data() + i * static_cast<std::size_t>(dim_), dim_);
}

}  // namespace vlrface
