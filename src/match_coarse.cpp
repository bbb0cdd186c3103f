#include "vlrface/match_coarse.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "match_kernels.hpp"

namespace vlrface::detail {
namespace {

constexpr int kLevels = 7;            // values -7..7, stored as 1..15
constexpr double kDelta = 0x1p-40;    // per row and probe, see the header
// Float rounding of the two rotations (three transforms of log2(512) = 9 butterfly stages) and
// of the products: below 1e-5 on unit vectors; 1e-4 leaves room.
constexpr float kSlack = 1e-4f;

// x * inv (x / step) rounded half away from zero and clamped to the levels; inline, in float
// (std::lround on doubles is a libm call: it made building a 100,000-person matcher 2.5 s slower).
inline int level(float x, float inv) {
  const float r = x * inv;
  const int q = static_cast<int>(r + (r >= 0 ? 0.5f : -0.5f));
  return std::clamp(q, -kLevels, kLevels);
}

// In place, unnormalised: H * H = n I.
void fwht(float* v, int n) {
  for (int h = 1; h < n; h *= 2) {
    for (int i = 0; i < n; i += 2 * h) {
      for (int j = i; j < i + h; ++j) {
        const float a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
    }
  }
}

}  // namespace

CoarsePlane::CoarsePlane(int dim) : dim_(dim) {
  padded_ = 64;  // the 4-bit kernels' block
  while (padded_ < dim) padded_ *= 2;
  x_ = dim > 1 ? static_cast<float>(std::sqrt(2.0 * std::log(2.0 / kDelta) / (dim - 1))) : 1e9f;
  // Fixed signs (mt19937's output is the same on every platform); the answer does not depend on
  // them beyond the probability above.
  std::mt19937 rng(0x5eedu);
  signs_.resize(3 * static_cast<std::size_t>(padded_));
  for (float& s : signs_) s = (rng() & 1u) ? 1.f : -1.f;
}

void CoarsePlane::rotate(const float* in, float* out) const {
  const auto n = static_cast<std::size_t>(padded_);
  std::fill(out, out + n, 0.f);
  std::copy(in, in + dim_, out);
  const float norm = 1.f / std::sqrt(static_cast<float>(padded_));
  for (int round = 0; round < 3; ++round) {
    const float* s = signs_.data() + static_cast<std::size_t>(round) * n;
    for (std::size_t i = 0; i < n; ++i) out[i] *= s[i];
    fwht(out, padded_);
    for (std::size_t i = 0; i < n; ++i) out[i] *= norm;
  }
}

// Below usable() nothing is kept: the Matcher never asks such a plane to score.
void CoarsePlane::reserve(std::size_t rows) {
  if (!usable()) return;
  codes_.reserve(rows * static_cast<std::size_t>(padded_ / 2));
  scale_.reserve(rows);
  recon_norm_.reserve(rows);
  self_err_.reserve(rows);
  err_norm_.reserve(rows);
}

void CoarsePlane::add(const float* row) {
  if (!usable()) return;
  const auto n = static_cast<std::size_t>(padded_);
  std::vector<float> t(n);
  rotate(row, t.data());
  // The step: the one of a few that gives the smallest row term of the bound, |t.e| + x |e|.
  // Rotated coordinates are close to Gaussian: a step below max / 7 clips the few largest ones,
  // which shrinks |e| but makes e lean against t (|t.e| grows); the best is in between.
  double sq = 0;
  float peak = 0;
  for (float x : t) {
    sq += double(x) * x;
    peak = std::max(peak, std::abs(x));
  }
  const double rms = std::sqrt(sq / static_cast<double>(n));
  auto row_term = [&](float step) {
    const float inv = 1.f / step;
    float e2 = 0, te = 0;  // a rough figure is enough to choose; the kept numbers are exact below
    for (float x : t) {
      const float e = step * static_cast<float>(level(x, inv)) - x;
      e2 += e * e;
      te += x * e;
    }
    return std::abs(te) + x_ * std::sqrt(e2);
  };
  float s = peak > 0 ? peak / kLevels : 0.f;
  if (s > 0) {
    float best = row_term(s);
    for (double f : {0.43, 0.48, 0.53}) {
      const auto step = static_cast<float>(f * rms);
      if (step <= 0 || step >= s) continue;
      const double term = row_term(step);
      if (term < best) best = term, s = step;
    }
  }
  std::vector<std::uint8_t> values(n);
  double recon_sq = 0, self = 0, err_sq = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const long q = s > 0 ? level(t[j], 1.f / s) : 0L;
    values[j] = static_cast<std::uint8_t>(q + 8);
    const double a = double(s) * double(q), e = a - double(t[j]);
    recon_sq += a * a;
    self += double(t[j]) * e;
    err_sq += e * e;
  }
  const std::size_t at = codes_.size();
  codes_.resize(at + n / 2);
  pack_u4(values.data(), padded_, codes_.data() + at);
  scale_.push_back(s);
  // Rounded up a little, so that the float bound is not below the exact one.
  recon_norm_.push_back(static_cast<float>(std::sqrt(recon_sq) * (1 + 1e-6)));
  self_err_.push_back(static_cast<float>(std::abs(self) * (1 + 1e-6)));
  err_norm_.push_back(static_cast<float>(std::sqrt(err_sq) * (1 + 1e-6)));
}

void CoarsePlane::move_row(std::size_t from, std::size_t to) {
  if (!usable()) return;
  const std::size_t b = static_cast<std::size_t>(padded_ / 2);
  std::copy_n(codes_.begin() + static_cast<std::ptrdiff_t>(from * b), b,
              codes_.begin() + static_cast<std::ptrdiff_t>(to * b));
  scale_[to] = scale_[from];
  recon_norm_[to] = recon_norm_[from];
  self_err_[to] = self_err_[from];
  err_norm_[to] = err_norm_[from];
}

void CoarsePlane::pop_back() {
  if (!usable()) return;
  codes_.resize(codes_.size() - static_cast<std::size_t>(padded_ / 2));
  scale_.pop_back();
  recon_norm_.pop_back();
  self_err_.pop_back();
  err_norm_.pop_back();
}

std::size_t CoarsePlane::bytes() const {
  return codes_.size() + 4 * sizeof(float) * scale_.size();
}

CoarsePlane::Probe CoarsePlane::prepare(const float* unit_probe) const {
  const auto n = static_cast<std::size_t>(padded_);
  std::vector<float> p(n);
  rotate(unit_probe, p.data());
  float peak = 0;
  for (float x : p) peak = std::max(peak, std::abs(x));
  Probe out;
  out.unit = peak > 0 ? peak / 127.f : 0.f;
  out.q.resize(n);
  double rounding_sq = 0;
  std::int32_t sum = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const long q = out.unit > 0 ? std::clamp(std::lround(double(p[j]) / out.unit), -127L, 127L)
                                : 0L;
    out.q[j] = static_cast<std::int8_t>(q);
    sum += static_cast<std::int32_t>(q);
    const double e = double(p[j]) - double(out.unit) * double(q);
    rounding_sq += e * e;
  }
  out.offset = 8 * sum;
  out.rounding = static_cast<float>(std::sqrt(rounding_sq) * (1 + 1e-6));
  return out;
}

void CoarsePlane::score(const Probe& p, std::size_t first, std::size_t count, float* approx,
                        float* bound) const {
  std::int32_t dots[256];
  const std::size_t b = static_cast<std::size_t>(padded_ / 2);
  for (std::size_t done = 0; done < count;) {
    const std::size_t m = std::min<std::size_t>(256, count - done);
    dot_u4_rows(p.q.data(), codes_.data() + (first + done) * b, m, padded_, dots);
    for (std::size_t j = 0; j < m; ++j) {
      const std::size_t i = first + done + j;
      approx[done + j] = p.unit * scale_[i] * static_cast<float>(dots[j] - p.offset);
      bound[done + j] = p.rounding * recon_norm_[i] + self_err_[i] + x_ * err_norm_[i] + kSlack;
    }
    done += m;
  }
}

}  // namespace vlrface::detail
