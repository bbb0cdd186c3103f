#include "vlrface/match.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <opencv2/core/utility.hpp>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "vlrface/error.hpp"

namespace vlrface {
namespace {

// Galleries of at least this many floats (4 MiB: 2,048 people at 512-d) are scored in parallel
// when the process allows more than one inference thread.
constexpr std::size_t kParallelMinValues = std::size_t{1} << 20;

// A plain `s += a[i] * b[i]` loop is one serial chain of dependent adds: without -ffast-math the
// compiler may not reorder it, so it neither vectorises nor hides the add latency (4.5 ms for
// 10,000 x 512 here). Sixteen independent partial sums are a reordering we choose, which the
// compiler can keep in vector registers (SSE2 on x86-64, NEON on aarch64).
float dot_portable(const float* a, const float* b, int n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

#if defined(__x86_64__) && defined(__GNUC__)
// The default x86-64 target stops at SSE2; AVX2 + FMA doubles the width and fuses the multiply-add.
// Compiled for those instructions only here and chosen at run time, so the binary still runs on
// any x86-64.
__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, int n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  const __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 0x1));
  float s = _mm_cvtss_f32(h);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

float dot(const float* a, const float* b, int n) {
  // Chosen on first use rather than at static initialisation, so a Matcher built by another
  // static initialiser cannot see it unset.
  static const auto impl = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? dot_avx2
                                                                            : dot_portable;
  }();
  return impl(a, b, n);
}
#else
float dot(const float* a, const float* b, int n) { return dot_portable(a, b, n); }
#endif

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
  reserve(templates.size());
  for (const auto& t : templates) add(t.name, t.embedding);
}

void Matcher::reserve(std::size_t people) {
  reserved_ = people;
  names_.reserve(people);
  if (dim_ > 0) matrix_.reserve(people * static_cast<std::size_t>(dim_));
}

void Matcher::add(const std::string& name, std::span<const float> embedding) {
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

MatchResult Matcher::match(std::span<const float> probe, const MatchOptions& options) const {
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
      sims[row] = dot(p.data(), matrix_.data() + row * static_cast<std::size_t>(dim_), dim_);
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
  const std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(std::max(1, options.top_k)),
                                              names_.size());
  std::vector<std::size_t> order(names_.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::size_t a, std::size_t b) { return sims[a] > sims[b]; });
  for (std::size_t i = 0; i < k; ++i) r.top.push_back({names_[order[i]], sims[order[i]]});
  r.similarity = r.top.front().similarity;
  if (r.similarity > options.threshold) r.name = r.top.front().name;
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
