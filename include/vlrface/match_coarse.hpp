// vlrface/match_coarse.hpp — the Matcher's 4-bit first pass over large galleries (internal).
//
// Usage (Matcher does this):
//   CoarsePlane c(512);                 // one per matcher, rows added as they come
//   c.add(unit_row);                    // ... every row; move_row/pop_back mirror removals
//   auto probe = c.prepare(unit_probe);
//   c.score(probe, first_row, count, approx, bound);  // |true cosine - approx| <= bound
//
// Why: a probe against 100,000 people at 512 values reads 51 MB of int8 codes, which takes
// ~5 ms at the ~10 GB/s one core streams; 4-bit codes halve that. A 4-bit code is too coarse for
// Cauchy-Schwarz (|p.e| <= |e|, ~0.16 here, would keep most rows), so the bound is the one of
// RaBitQ-style quantisers (Gao & Long, SIGMOD 2024): rows and probes are first turned by a
// random rotation, after which the probe's part across a row is a random direction to that
// row's rounding error e, and |p.e| <= |t.e| + x |e| with x = sqrt(2 ln(2 / delta) / (dim - 1))
// fails with probability at most delta (concentration on the sphere). delta = 2^-40 per row
// and probe. The rotation is a randomised Hadamard transform (three rounds of fixed random
// signs and a fast Walsh-Hadamard transform, O(n log n)), the usual stand-in for a uniformly
// random one. Every row that could be in the top k by that bound goes on to the exact int8
// test (match.cpp), so the answer is the brute force's unless such a tail event happens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vlrface::detail {

class CoarsePlane {
 public:
  CoarsePlane() = default;
  explicit CoarsePlane(int dim);

  // Whether the bound is worth anything at this length (below 128 values x >= 0.6).
  bool usable() const { return dim_ >= 128; }
  void reserve(std::size_t rows);
  // `row`: dim values, L2-normalised (zero allowed).
  void add(const float* row);
  void move_row(std::size_t from, std::size_t to);
  void pop_back();
  std::size_t bytes() const;

  struct Probe {
    std::vector<std::int8_t> q;  // rotated probe in int8 (padded length)
    float unit = 0;              // its step: rotated probe ~= unit * q
    std::int32_t offset = 0;     // 8 * sum q: the codes are stored as value + 8
    float rounding = 0;          // |rotated probe - unit * q|
  };
  Probe prepare(const float* unit_probe) const;
  // approx[j], bound[j] for rows first .. first + count - 1.
  void score(const Probe& p, std::size_t first, std::size_t count, float* approx,
             float* bound) const;

  // The rotation, for tests: orthogonal, out has padded() values.
  void rotate(const float* in, float* out) const;
  int padded() const { return padded_; }

 private:
  int dim_ = 0, padded_ = 0;
  float x_ = 0;                       // the concentration factor above
  std::vector<float> signs_;          // 3 x padded_ of +-1
  std::vector<std::uint8_t> codes_;   // rows x padded_ / 2 (match_kernels.hpp layout)
  std::vector<float> scale_;          // s per row: row ~= s * (code - 8)
  std::vector<float> recon_norm_;     // |s (code - 8)|
  std::vector<float> self_err_;       // |t . e|
  std::vector<float> err_norm_;       // |e|
};

}  // namespace vlrface::detail
