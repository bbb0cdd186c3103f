#include "capture_check.hpp"

#include <cmath>
#include <cstdio>

#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"

namespace vlrface::live {
namespace {

std::vector<float> unit(std::vector<float> v) {
  l2_normalise(v);
  return v;
}

std::string fmt4(float x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", x);
  return buf;
}

void check_lengths(const std::vector<std::vector<float>>& embeddings) {
  for (const auto& e : embeddings) {
    if (e.empty() || e.size() != embeddings.front().size()) {
      throw Error("live", "capture check: embeddings of different lengths");
    }
  }
}

}  // namespace

std::string CaptureAgreement::message(float threshold) const {
  if (agree) return {};
  return "the captured faces are not all the same person: face " + std::to_string(worst_face + 1) +
         " of " + std::to_string(faces) + " matches " + std::to_string(worst_matches) + " of the " +
         std::to_string(faces - 1) + " others (lowest similarity " + fmt4(lowest) + ", faces " +
         std::to_string(pair_a + 1) + " and " + std::to_string(pair_b + 1) + "; threshold " +
         fmt4(threshold) +
         "). Was someone else in view? Capture again with only that person in front of the camera";
}

CaptureAgreement check_agreement(const std::vector<std::vector<float>>& embeddings,
                                 float threshold) {
  CaptureAgreement r;
  r.faces = static_cast<int>(embeddings.size());
  if (embeddings.size() < 2) return r;
  check_lengths(embeddings);
  std::vector<std::vector<float>> u;
  u.reserve(embeddings.size());
  for (const auto& e : embeddings) u.push_back(unit(e));
  const int n = r.faces;
  std::vector<int> matches(static_cast<std::size_t>(n), 0);
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      const float s = cosine(u[static_cast<std::size_t>(i)], u[static_cast<std::size_t>(j)]);
      if (s < r.lowest) {
        r.lowest = s;
        r.pair_a = i;
        r.pair_b = j;
      }
      if (s > threshold) {
        ++matches[static_cast<std::size_t>(i)];
        ++matches[static_cast<std::size_t>(j)];
      }
    }
  }
  r.worst_matches = n;
  for (int i = 0; i < n; ++i) {
    if (matches[static_cast<std::size_t>(i)] < r.worst_matches) {
      r.worst_matches = matches[static_cast<std::size_t>(i)];
      r.worst_face = i;
    }
  }
  // At least half of the others, counted without rounding: 2 * matches >= n - 1.
  r.agree = 2 * r.worst_matches >= n - 1;
  return r;
}

std::vector<Candidate> already_enrolled(const Matcher& gallery,
                                        const std::vector<std::vector<float>>& embeddings,
                                        float threshold, const std::string& self) {
  if (embeddings.empty() || gallery.size() == 0) return {};
  check_lengths(embeddings);
  // The mean of the unit embeddings: what the person's template will look like.
  std::vector<float> mean(embeddings.front().size(), 0.0f);
  for (const auto& e : embeddings) {
    const std::vector<float> v = unit(e);
    for (std::size_t i = 0; i < v.size(); ++i) mean[i] += v[i];
  }
  MatchOptions mo;
  mo.top_k = 5;
  mo.threshold = threshold;
  std::vector<Candidate> out;
  for (const Candidate& c : gallery.match(unit(mean), mo).top) {
    if (c.similarity > threshold && c.name != self) out.push_back(c);
  }
  return out;
}

}  // namespace vlrface::live
