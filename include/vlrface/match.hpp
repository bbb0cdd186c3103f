// vlrface/match.hpp — cosine search of a probe embedding against enrolled templates.
//
// Usage:
//   vlrface::Matcher m(gallery.templates());
//   vlrface::MatchResult r = m.match(probe, {.top_k = 5, .threshold = 0.35f});
//   if (r.name) ... else "unknown"
//
// The answer is the float32 brute force's (Float32Matcher, match_f32.hpp): the same top_k people
// in the same order, similarities within 1e-4 (measured: within 4e-6), found from a quarter of
// the bytes. (Only people whose similarities are within a few 1e-6 of each other may come in the
// other order, as float rounding may order them either way in any implementation.) Why: a probe
// against 100,000 people is bound by memory bandwidth, and float32 templates are 200 MB a probe.
//
// How each L2-normalised template row r is kept: a per-row scale s and 16-bit integers Q with
// r ~= s * Q (|Q| <= 32,512, so the error is at most s / 2 = max|r| / 65,024 a value), split into
// a high byte plane H and a low byte plane L (Q = 256 H + L, H in [-127, 127]). A probe
// 1. scans H of every row with an int8 dot product against the probe rounded to int8 (a quarter
//    of float32's bytes, vectorised: AVX2, NEON, NEON dot-product, or plain C++);
// 2. bounds, for each row, how far that scan can be from the row's full similarity, with
//    Cauchy-Schwarz on what was left out (the probe's rounding, and s * L, whose norm each row
//    keeps): row bound = |probe rounding| * |r| + |rounded probe| * |s L| + float rounding;
// 3. rescores exactly (float, from H and L) only the rows whose upper bound reaches the k-th
//    best lower bound: provably a superset of the true top k (typically a few dozen rows).
// Large galleries (ScanMode::kAuto: at least 4 Mi values, 8,192 people at 512-d) put a pass
// before step 1: 4-bit codes of the randomly rotated rows (vlrface/match_coarse.hpp), half the
// bytes of H, with a bound that holds except with probability 2^-40 per row and probe (over the
// rotation); only the rows that pass it get step 1 at once, from H of the same block (2-4 % of
// the rows of a random 100,000-person gallery), and their tighter int8 lower bounds raise the
// cut for the rows that follow. So there the answer is the brute force's unless such an event
// happens (2^-40 is about one event in 10^7 probes of 100,000 people, and it changes the answer
// only if it hits one of the top k); `vlrface bench --gallery-scale` compares the two first
// passes probe by probe in the same run.
// Memory: 2.5 bytes a value + 24 bytes a row (0.63x the float32 size) + the names. 16-bit integers
// rather than float16: the same 2 bytes, a finer step for values within [-1, 1] (max|r| / 32,512
// against float16's 2^-11 relative), and the high byte is the scan's int8 code at no extra cost.
// Ties (equal similarity) are ordered by name, so the answer does not depend on row order.
// Thread safety: match() is const and may run on many threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "vlrface/gallery.hpp"
#include "vlrface/match_coarse.hpp"
#include "vlrface/match_types.hpp"

namespace vlrface {

struct MatchStats {
  std::size_t rescored = 0;  // rows scored exactly after the int8 scan
  std::size_t refined = 0;   // rows given the int8 test after the 4-bit pass (0: not run)
  bool coarse = false;       // whether the 4-bit pass ran
};

class Matcher {
 public:
  Matcher() = default;
  // Throws Error("match", ...) when templates differ in length.
  explicit Matcher(const std::vector<PersonTemplate>& templates);

  // Built row by row (Gallery::for_each_template), so that a large gallery's templates are
  // never in memory twice, as a vector and as this matrix. add() throws Error("match", ...)
  // when the length differs from the first row's. add() appends (amortised O(dim)).
  void reserve(std::size_t people);
  void add(const std::string& name, std::span<const float> embedding);
  // Removes the rows named `name` (O(dim) each: the last row takes the freed place); returns how
  // many were removed. For a follower applying one enrolment or removal without a reload.
  std::size_t remove(const std::string& name);
  // The same for every row whose name is in `names`, in one pass (O(size() + dim per row)).
  std::size_t remove(const std::unordered_set<std::string>& names);

  MatchResult match(std::span<const float> probe, const MatchOptions& options = {}) const;
  // The same, also saying how many rows needed the exact rescoring (benchmark and tests).
  MatchResult match(std::span<const float> probe, const MatchOptions& options,
                    MatchStats& stats) const;
  // 1:1 — similarity to one person; nullopt when unknown.
  std::optional<float> similarity_to(std::span<const float> probe, const std::string& name) const;

  std::size_t size() const { return names_.size(); }
  bool contains(const std::string& name) const;  // O(size())
  int dim() const { return dim_; }
  // Bytes the templates take here (planes + per-row numbers, not the names or spare capacity).
  std::size_t template_bytes() const;
  // The int8 scan this CPU runs: "avx2", "neon-dotprod", "neon" or "portable".
  static const char* scan_path();
  // The 4-bit scan's ("avx2", "neon-dotprod", "neon" or "portable").
  static const char* coarse_path();

 private:
  // Row i's similarity from H and L (scratch: dim_ floats).
  float exact_row(std::size_t i, const float* probe, float* scratch) const;
  std::size_t remove_if(const std::function<bool(const std::string&)>& doomed);

  std::vector<std::string> names_;
  std::vector<std::int8_t> high_;  // size() x dim_: H
  std::vector<std::int8_t> low_;   // size() x dim_: L
  std::vector<float> scale_;       // s per row
  std::vector<float> low_norm_;    // |s L| per row, the part the first pass leaves out
  detail::CoarsePlane coarse_;     // the same rows, rotated, in 4 bits
  double max_row_norm_ = 0;        // max |s Q| over rows ever added (only a bound: kept on remove)
  int dim_ = 0;
  std::size_t reserved_ = 0;
};

}  // namespace vlrface
