#include "vlrface/match.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <opencv2/core/utility.hpp>
#include <queue>

#include "match_kernels.hpp"
#include "vlrface/error.hpp"

namespace vlrface {
namespace {

// Galleries of at least this many values (4 MiB of high bytes: 8,192 people at 512-d) are scanned
// in parallel when the process allows more than one inference thread.
constexpr std::size_t kParallelMinValues = std::size_t{1} << 22;
// |Q| at most 127.5 * 256 - 128, so that round-half-up of Q / 256 stays within [-127, 127].
constexpr double kMaxQ = 32512;
// Galleries of at least this many values get the 4-bit first pass (match_coarse.hpp): below it,
// the int8 plane (4 MiB) stays in a large last-level cache and the extra pass would only add.
constexpr std::size_t kCoarseMinValues = std::size_t{1} << 22;
// Rows scanned per kernel call: the int32 results stay in L1.
constexpr std::size_t kBlock = 256;
// Float rounding the bound must also cover: the first pass's products (relative 2^-23 of values
// within a few units) and the rescoring's sum of 512 products in 16 lanes (relative ~48 * 2^-24
// of sum |p_i r_i| <= 1): both below 1e-5.
constexpr float kRoundingSlack = 1e-5f;

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

struct Pending {
  std::size_t row;
  float upper;
};

// One stripe's first pass: the k largest lower bounds it saw (a min-heap), and every row whose
// upper bound reached the k-th of them at the time it was scanned (a superset of those that reach
// the final one).
struct StripeScan {
  std::priority_queue<float, std::vector<float>, std::greater<float>> lower;
  std::vector<Pending> candidates;
  std::size_t refined = 0;  // rows given the int8 test after the 4-bit one
};

}  // namespace

Matcher::Matcher(const std::vector<PersonTemplate>& templates) {
  if (templates.empty()) return;
  reserve(templates.size());
  for (const auto& t : templates) add(t.name, t.embedding);
}

void Matcher::reserve(std::size_t people) {
  reserved_ = people;
  names_.reserve(people);
  scale_.reserve(people);
  low_norm_.reserve(people);
  if (dim_ > 0) {
    high_.reserve(people * static_cast<std::size_t>(dim_));
    low_.reserve(people * static_cast<std::size_t>(dim_));
    coarse_.reserve(people);
  }
}

void Matcher::add(const std::string& name, std::span<const float> embedding) {
  if (embedding.size() > 65536) {
    throw Error("match", "template of '" + name + "' has " + std::to_string(embedding.size()) +
                             " values, more than the 65,536 supported");
  }
  if (names_.empty() && high_.capacity() == 0) {
    // The first row sets the length; the planes are then allocated once, at their final size
    // (growing them by doubling would briefly hold the old and the new buffer).
    dim_ = static_cast<int>(embedding.size());
    const std::size_t rows = std::max(reserved_, std::size_t{1});
    high_.reserve(rows * static_cast<std::size_t>(dim_));
    low_.reserve(rows * static_cast<std::size_t>(dim_));
    coarse_ = detail::CoarsePlane(dim_);
    coarse_.reserve(rows);
  }
  if (static_cast<int>(embedding.size()) != dim_) {
    throw Error("match", "template of '" + name + "' has " + std::to_string(embedding.size()) +
                             " values, expected " + std::to_string(dim_));
  }
  const auto row = normalised(embedding);
  float peak = 0;
  for (float x : row) peak = std::max(peak, std::abs(x));
  // The scale is stored as a float and Q computed from that float, so s * Q is exactly what the
  // rescoring multiplies out.
  const float s = peak > 0 ? static_cast<float>(peak / kMaxQ) : 0.f;
  double low_sq = 0, row_sq = 0;
  for (float x : row) {
    const long q = s > 0 ? std::clamp(std::lround(double(x) / s), -32512L, 32512L) : 0L;
    const long h = (q + 128) >> 8;  // round half up: floor((q + 128) / 256), in [-127, 127]
    const long l = q - 256 * h;     // in [-128, 127]
    high_.push_back(static_cast<std::int8_t>(h));
    low_.push_back(static_cast<std::int8_t>(l));
    low_sq += double(l) * double(l);
    row_sq += double(q) * double(q);
  }
  scale_.push_back(s);
  // Rounded up a little, so the float bound is not below the exact one.
  low_norm_.push_back(static_cast<float>(double(s) * std::sqrt(low_sq) * (1 + 1e-6)));
  max_row_norm_ = std::max(max_row_norm_, double(s) * std::sqrt(row_sq));
  coarse_.add(row.data());
  names_.push_back(name);
}

std::size_t Matcher::remove(const std::string& name) {
  return remove_if([&](const std::string& n) { return n == name; });
}

std::size_t Matcher::remove(const std::unordered_set<std::string>& names) {
  if (names.empty()) return 0;
  return remove_if([&](const std::string& n) { return names.count(n) != 0; });
}

std::size_t Matcher::remove_if(const std::function<bool(const std::string&)>& doomed) {
  std::size_t removed = 0;
  const auto d = static_cast<std::size_t>(dim_);
  // From the end, so that the row moved into a freed place has been looked at already.
  for (std::size_t i = names_.size(); i-- > 0;) {
    if (!doomed(names_[i])) continue;
    const std::size_t last = names_.size() - 1;
    if (i != last) {
      std::copy_n(high_.begin() + static_cast<std::ptrdiff_t>(last * d), d,
                  high_.begin() + static_cast<std::ptrdiff_t>(i * d));
      std::copy_n(low_.begin() + static_cast<std::ptrdiff_t>(last * d), d,
                  low_.begin() + static_cast<std::ptrdiff_t>(i * d));
      scale_[i] = scale_[last];
      low_norm_[i] = low_norm_[last];
      coarse_.move_row(last, i);
      names_[i] = std::move(names_[last]);
    }
    coarse_.pop_back();
    high_.resize(last * d);
    low_.resize(last * d);
    scale_.pop_back();
    low_norm_.pop_back();
    names_.pop_back();
    ++removed;
  }
  return removed;
}

std::size_t Matcher::template_bytes() const {
  return high_.size() + low_.size() + (scale_.size() + low_norm_.size()) * sizeof(float) +
         coarse_.bytes();
}

const char* Matcher::scan_path() {
  return detail::dot_i8_path();
}

const char* Matcher::coarse_path() {
  return detail::dot_u4_path();
}

float Matcher::exact_row(std::size_t i, const float* probe, float* scratch) const {
  const std::size_t off = i * static_cast<std::size_t>(dim_);
  for (int j = 0; j < dim_; ++j) {
    scratch[j] = static_cast<float>(256 * high_[off + static_cast<std::size_t>(j)] +
                                    low_[off + static_cast<std::size_t>(j)]);
  }
  return scale_[i] * detail::dot_f32(probe, scratch, dim_);
}

MatchResult Matcher::match(std::span<const float> probe, const MatchOptions& options) const {
  MatchStats unused;
  return match(probe, options, unused);
}

MatchResult Matcher::match(std::span<const float> probe, const MatchOptions& options,
                           MatchStats& stats) const {
  MatchResult r;
  stats = {};
  if (names_.empty()) return r;
  if (static_cast<int>(probe.size()) != dim_) {
    throw Error("match", "probe has " + std::to_string(probe.size()) + " values, gallery " +
                             std::to_string(dim_));
  }
  const auto p = normalised(probe);
  const auto d = static_cast<std::size_t>(dim_);

  // The probe in int8: p ~= ps * qp. What rounding left out (|p - ps qp|) and the rounded probe's
  // norm (|ps qp|) are the two probe terms of every row's bound.
  float peak = 0;
  for (float x : p) peak = std::max(peak, std::abs(x));
  const float ps = peak > 0 ? peak / 127.f : 0.f;
  std::vector<std::int8_t> qp(d);
  double rounding_sq = 0, rounded_sq = 0;
  for (std::size_t j = 0; j < d; ++j) {
    const long q = ps > 0 ? std::clamp(std::lround(double(p[j]) / ps), -127L, 127L) : 0L;
    qp[j] = static_cast<std::int8_t>(q);
    const double e = double(p[j]) - double(ps) * double(q);
    rounding_sq += e * e;
    rounded_sq += double(q) * double(q);
  }
  const float bound0 =
      static_cast<float>(std::sqrt(rounding_sq) * max_row_norm_ * (1 + 1e-6)) + kRoundingSlack;
  const float bound1 = static_cast<float>(double(ps) * std::sqrt(rounded_sq) * (1 + 1e-6));
  const float high_unit = ps * 256.f;  // a high byte weighs 256 s; exact in float

  const std::size_t n = names_.size();
  const std::size_t k =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(1, options.top_k)), n);
  // Rows [begin, end) in blocks: approx and bound of each, from the int8 scan of H (exact bound)
  // or from the 4-bit codes (the probabilistic one, match_coarse.hpp).
  auto int8_block = [&](std::size_t b, std::size_t count, float* approx, float* bound) {
    std::int32_t dots[kBlock];
    detail::dot_i8_rows(qp.data(), high_.data() + b * d, count, dim_, dots);
    for (std::size_t j = 0; j < count; ++j) {
      approx[j] = high_unit * scale_[b + j] * static_cast<float>(dots[j]);
      bound[j] = bound0 + bound1 * low_norm_[b + j];
    }
  };
  const bool coarse =
      coarse_.usable() && (options.scan == ScanMode::kCoarse ||
                           (options.scan == ScanMode::kAuto && n * d >= kCoarseMinValues));
  detail::CoarsePlane::Probe cp;
  if (coarse) cp = coarse_.prepare(p.data());
  auto scan = [&](std::size_t begin, std::size_t end, StripeScan& out) {
    float approx[kBlock], bound[kBlock];
    std::size_t pass[kBlock];
    float kth = -std::numeric_limits<float>::infinity();  // k-th best lower bound so far
    auto consider = [&](std::size_t row, float approx_row, float bound_row) {
      const float upper = approx_row + bound_row;
      if (upper < kth) return;
      const float lower = approx_row - bound_row;
      if (out.lower.size() < k) {
        out.lower.push(lower);
        if (out.lower.size() == k) kth = out.lower.top();
      } else if (lower > kth) {
        out.lower.pop();
        out.lower.push(lower);
        kth = out.lower.top();
      }
      out.candidates.push_back({row, upper});
    };
    for (std::size_t b = begin; b < end; b += kBlock) {
      const std::size_t count = std::min(kBlock, end - b);
      if (!coarse) {
        int8_block(b, count, approx, bound);
        for (std::size_t j = 0; j < count; ++j) consider(b + j, approx[j], bound[j]);
      } else {
        // The 4-bit test for the whole block, then at once the int8 test (exact bound) for the
        // few rows that passed: their H rows lie within this block's 128 KiB, fetched together,
        // and their tighter lower bounds raise `kth` for the rows that follow.
        coarse_.score(cp, b, count, approx, bound);
        std::size_t passed = 0;
        for (std::size_t j = 0; j < count; ++j) {
          if (approx[j] + bound[j] >= kth) pass[passed++] = b + j;
        }
        for (std::size_t j = 0; j < passed; ++j) {
          const auto* row = reinterpret_cast<const char*>(high_.data() + pass[j] * d);
          for (std::size_t c = 0; c < d; c += 64) __builtin_prefetch(row + c);
        }
        out.refined += passed;
        for (std::size_t j = 0; j < passed; ++j) {
          float a8, b8;
          int8_block(pass[j], 1, &a8, &b8);
          consider(pass[j], a8, b8);
        }
      }
      // A gallery whose rows come in rising order would keep every row; drop the ones the
      // k-th lower bound has passed since.
      if (out.candidates.size() > 4 * k + 4096) {
        std::erase_if(out.candidates, [&](const Pending& c) { return c.upper < kth; });
      }
    }
  };

  const int threads = cv::getNumThreads();
  std::vector<StripeScan> stripes;
  // A large gallery is bound by memory bandwidth, which a second core adds to; a small one fits
  // in cache and finishes before a thread pool would have woken up.
  if (threads > 1 && n * d >= kParallelMinValues) {
    stripes.resize(static_cast<std::size_t>(threads));
    const std::size_t per = (n + stripes.size() - 1) / stripes.size();
    cv::parallel_for_(
        cv::Range(0, threads),
        [&](const cv::Range& range) {
          for (int s = range.start; s < range.end; ++s) {
            const std::size_t begin = std::min(n, static_cast<std::size_t>(s) * per);
            scan(begin, std::min(n, begin + per), stripes[static_cast<std::size_t>(s)]);
          }
        },
        threads);
  } else {
    stripes.resize(1);
    scan(0, n, stripes[0]);
  }

  // The rows that can be in the top k: upper bound at least the k-th largest lower bound over
  // all stripes (each kept its own k largest).
  std::vector<float> lowers;
  for (auto& s : stripes) {
    for (; !s.lower.empty(); s.lower.pop()) lowers.push_back(s.lower.top());
  }
  std::nth_element(lowers.begin(), lowers.begin() + static_cast<std::ptrdiff_t>(k - 1),
                   lowers.end(), std::greater<float>());
  const float kth = lowers[k - 1];
  std::vector<Pending> rows;
  for (const auto& s : stripes) {
    for (const Pending& c : s.candidates) {
      if (c.upper >= kth) rows.push_back(c);
    }
  }
  stats.coarse = coarse;
  for (const auto& st : stripes) stats.refined += st.refined;

  std::vector<float> scratch(d);
  std::vector<std::pair<float, std::size_t>> exact;
  for (const Pending& c : rows) {
    if (c.upper >= kth) exact.emplace_back(exact_row(c.row, p.data(), scratch.data()), c.row);
  }
  stats.rescored = exact.size();
  std::partial_sort(exact.begin(), exact.begin() + static_cast<std::ptrdiff_t>(k), exact.end(),
                    [&](const auto& a, const auto& b) {
                      if (a.first != b.first) return a.first > b.first;
                      return names_[a.second] < names_[b.second];
                    });
  for (std::size_t i = 0; i < k; ++i) r.top.push_back({names_[exact[i].second], exact[i].first});
  r.similarity = r.top.front().similarity;
  if (r.similarity > options.threshold) r.name = r.top.front().name;
  return r;
}

bool Matcher::contains(const std::string& name) const {
  return std::find(names_.begin(), names_.end(), name) != names_.end();
}

std::optional<float> Matcher::similarity_to(std::span<const float> probe,
                                            const std::string& name) const {
  auto it = std::find(names_.begin(), names_.end(), name);
  if (it == names_.end()) return std::nullopt;
  if (static_cast<int>(probe.size()) != dim_) throw Error("match", "probe dimension mismatch");
  const auto p = normalised(probe);
  std::vector<float> scratch(static_cast<std::size_t>(dim_));
  return exact_row(static_cast<std::size_t>(it - names_.begin()), p.data(), scratch.data());
}

}  // namespace vlrface
