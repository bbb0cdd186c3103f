// Helpers of the matcher tests: random galleries and probes, and a double-precision brute force
// the matchers' answers are compared with.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "vlrface/match_types.hpp"
#include "vlrface/gallery.hpp"

namespace match_test {

using vlrface::PersonTemplate;

inline std::vector<float> random_vec(std::mt19937& rng, int dim, float scale = 1.f) {
  std::normal_distribution<float> n(0.f, scale);
  std::vector<float> v(static_cast<std::size_t>(dim));
  for (auto& x : v) x = n(rng);
  return v;
}

inline std::vector<double> unit(const std::vector<float>& v) {
  double n = 0;
  for (float x : v) n += double(x) * x;
  n = std::sqrt(n);
  std::vector<double> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = n > 0 ? v[i] / n : 0;
  return out;
}

struct Ref {
  std::string name;
  double sim;
};

// Every person's cosine to the probe in double, best first (ties by name).
inline std::vector<Ref> reference(const std::vector<PersonTemplate>& g, const std::vector<float>& probe) {
  const auto p = unit(probe);
  std::vector<Ref> out;
  for (const auto& t : g) {
    const auto r = unit(t.embedding);
    double s = 0;
    for (std::size_t i = 0; i < r.size(); ++i) s += p[i] * r[i];
    out.push_back({t.name, s});
  }
  std::sort(out.begin(), out.end(), [](const Ref& a, const Ref& b) {
    return a.sim != b.sim ? a.sim > b.sim : a.name < b.name;
  });
  return out;
}

constexpr double kTol = 1e-4;

// The matcher's top list against the reference's: each similarity within kTol of the reference's
// at that rank, and the name the reference's unless another person is within 2 * kTol of it (a
// near-tie that float rounding may order either way; then the name must be one of those).
// Returns how many ranks had no near-tie, i.e. were checked by name exactly.
inline int expect_same_top(const vlrface::MatchResult& r, const std::vector<Ref>& ref, std::size_t k,
                    const std::string& what) {
  int exact = 0;
  EXPECT_EQ(r.top.size(), std::min(k, ref.size())) << what;
  for (std::size_t i = 0; i < r.top.size() && i < ref.size(); ++i) {
    EXPECT_NEAR(r.top[i].similarity, ref[i].sim, kTol) << what << " rank " << i;
    std::vector<std::string> band;
    for (const auto& x : ref) {
      if (std::abs(x.sim - ref[i].sim) <= 2 * kTol) band.push_back(x.name);
    }
    if (band.size() == 1) {
      ++exact;
      EXPECT_EQ(r.top[i].name, ref[i].name) << what << " rank " << i;
    } else {
      EXPECT_NE(std::find(band.begin(), band.end(), r.top[i].name), band.end())
          << what << " rank " << i << ": " << r.top[i].name << " is not in the near-tie";
    }
  }
  return exact;
}

inline std::vector<PersonTemplate> random_gallery(std::mt19937& rng, int people, int dim) {
  std::vector<PersonTemplate> g;
  for (int i = 0; i < people; ++i) g.push_back({"p" + std::to_string(i), random_vec(rng, dim)});
  return g;
}

// A probe at cosine c to `base`: c * base + sqrt(1 - c^2) * (a random unit vector orthogonal to
// base).
inline std::vector<float> near(const std::vector<float>& base, double c, std::mt19937& rng) {
  const auto b = unit(base);
  auto noise = unit(random_vec(rng, static_cast<int>(base.size())));
  double along = 0;
  for (std::size_t i = 0; i < b.size(); ++i) along += noise[i] * b[i];
  std::vector<float> ortho(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) ortho[i] = static_cast<float>(noise[i] - along * b[i]);
  noise = unit(ortho);
  std::vector<float> out(base.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<float>(c * b[i] + std::sqrt(1 - c * c) * noise[i]);
  }
  return out;
}

}  // namespace match_test
