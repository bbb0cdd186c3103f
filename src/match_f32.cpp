#include "vlrface/match_f32.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <opencv2/core/utility.hpp>

#include "match_kernels.hpp"
#include "vlrface/error.hpp"

namespace vlrface {
namespace {

// Galleries of at least this many floats (4 MiB: 2,048 people at 512-d) are scored in parallel
// when the process allows more than one inference thread.
constexpr std::size_t kParallelMinValues = std::size_t{1} << 20;

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

Float32Matcher::Float32Matcher(const std::vector<PersonTemplate>& templates) {
  if (templates.empty()) return;
  reserve(templates.size());
  for (const auto& t : templates) add(t.name, t.embedding);
}

void Float32Matcher::reserve(std::size_t people) {
  reserved_ = people;
  names_.reserve(people);
  if (dim_ > 0) matrix_.reserve(people * static_cast<std::size_t>(dim_));
}

void Float32Matcher::add(const std::string& name, std::span<const float> embedding) {
  if (names_.empty()) {
    // The first row sets the length; the matrix is then allocated once, at its final size
    // (growing it by doubling would briefly hold the old and the new buffer).
    dim_ = static_cast<int>(embedding.size());
    matrix_.reserve(std::max(reserved_, std::size_t{1}) * static_cast<std::size_t>(dim_));
  }
  if (static_cast<int>(embedding.size()) != dim_) {
    throw Error("match", "template of '" + name + "' has " + std::to_string(embedding.size()) +
                             " values, expected " + std::to_string(dim_));
  }
  const auto row = normalised(embedding);
  matrix_.insert(matrix_.end(), row.begin(), row.end());
  names_.push_back(name);
}

MatchResult Float32Matcher::match(std::span<const float> probe, const MatchOptions& options) const {
  MatchResult r;
  if (names_.empty()) return r;
  if (static_cast<int>(probe.size()) != dim_) {
    throw Error("match", "probe has " + std::to_string(probe.size()) + " values, gallery " +
                             std::to_string(dim_));
  }
  const auto p = normalised(probe);
  std::vector<float> sims(names_.size());
  auto score_rows = [&](const cv::Range& rows) {
    for (int i = rows.start; i < rows.end; ++i) {
      const auto row = static_cast<std::size_t>(i);
      sims[row] =
          detail::dot_f32(p.data(), matrix_.data() + row * static_cast<std::size_t>(dim_), dim_);
    }
  };
  const cv::Range all(0, static_cast<int>(names_.size()));
  const int threads = cv::getNumThreads();
  // A large gallery is bound by memory bandwidth, which a second core adds to; a small one fits
  // in cache and finishes before a thread pool would have woken up.
  if (threads > 1 && matrix_.size() >= kParallelMinValues) {
    cv::parallel_for_(all, score_rows, threads);
  } else {
    score_rows(all);
  }
  const std::size_t k =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(1, options.top_k)), names_.size());
  std::vector<std::size_t> order(names_.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::size_t a, std::size_t b) { return sims[a] > sims[b]; });
  for (std::size_t i = 0; i < k; ++i) r.top.push_back({names_[order[i]], sims[order[i]]});
  r.similarity = r.top.front().similarity;
  if (r.similarity > options.threshold) r.name = r.top.front().name;
  return r;
}

std::optional<float> Float32Matcher::similarity_to(std::span<const float> probe,
                                                   const std::string& name) const {
  auto it = std::find(names_.begin(), names_.end(), name);
  if (it == names_.end()) return std::nullopt;
  if (static_cast<int>(probe.size()) != dim_) throw Error("match", "probe dimension mismatch");
  const auto p = normalised(probe);
  const auto i = static_cast<std::size_t>(it - names_.begin());
  return detail::dot_f32(p.data(), matrix_.data() + i * static_cast<std::size_t>(dim_), dim_);
}

}  // namespace vlrface
