#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/eval.hpp"

namespace vlrface::eval {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Counts {
  int genuine = 0, impostor = 0;
};

Counts count(std::span<const ScoredPair> pairs) {
  Counts c;
  for (const auto& p : pairs) (p.genuine ? c.genuine : c.impostor)++;
  return c;
}

Counts require_both(std::span<const ScoredPair> pairs, const char* what) {
  const Counts c = count(pairs);
  if (c.genuine == 0 || c.impostor == 0) {
    throw Error("eval", std::string(what) +
                            " needs at least one genuine and one impostor pair (got " +
                            std::to_string(c.genuine) + " and " + std::to_string(c.impostor) + ")");
  }
  return c;
}

std::vector<ScoredPair> sorted_by_score(std::span<const ScoredPair> pairs, bool descending) {
  std::vector<ScoredPair> s(pairs.begin(), pairs.end());
  std::sort(s.begin(), s.end(), [descending](const ScoredPair& a, const ScoredPair& b) {
    return descending ? a.score > b.score : a.score < b.score;
  });
  return s;
}

}  // namespace

MeanStd mean_std(std::span<const double> values) {
  MeanStd r;
  if (values.empty()) return r;
  for (double v : values) r.mean += v;
  r.mean /= static_cast<double>(values.size());
  if (values.size() < 2) return r;
  double ss = 0;
  for (double v : values) ss += (v - r.mean) * (v - r.mean);
  r.std = std::sqrt(ss / static_cast<double>(values.size() - 1));
  return r;
}

namespace {

// Class-balanced: a genuine pair weighs I, an impostor pair G (G genuine and I impostor pairs), so
// that accuracy is the mean of the two classes' rates. With G == I (LFW) that is the plain share
// of pairs decided correctly, to the bit; a set with more impostors (to pin a low FAR down) then
// keeps accuracy's meaning. Integer weights keep ties exact.
struct Weights {
  long long genuine = 1, impostor = 1, total = 0;
};

Weights balanced(std::span<const ScoredPair> pairs) {
  const Counts c = count(pairs);
  Weights w;
  if (c.genuine > 0 && c.impostor > 0) {
    w.genuine = c.impostor;
    w.impostor = c.genuine;
  }
  w.total = w.genuine * c.genuine + w.impostor * c.impostor;
  return w;
}

}  // namespace

double accuracy_at(std::span<const ScoredPair> pairs, double threshold) {
  if (pairs.empty()) throw Error("eval", "accuracy of an empty set of pairs");
  const Weights w = balanced(pairs);
  long long correct = 0;
  for (const auto& p : pairs) {
    if ((p.score > threshold) == p.genuine) correct += p.genuine ? w.genuine : w.impostor;
  }
  return static_cast<double>(correct) / static_cast<double>(w.total);
}

ThresholdChoice best_threshold(std::span<const ScoredPair> pairs) {
  if (pairs.empty()) throw Error("eval", "threshold choice on an empty set of pairs");
  const Weights w = balanced(pairs);
  const std::vector<ScoredPair> s = sorted_by_score(pairs, false);
  // Sweep the threshold upwards: each group of equal scores moves from accepted to rejected.
  long long correct = w.genuine * count(pairs).genuine;  // threshold -inf: every pair accepted
  long long best_correct = correct;
  double best = -kInf;
  for (std::size_t i = 0; i < s.size();) {
    const double score = s[i].score;
    for (; i < s.size() && s[i].score == score; ++i) {
      correct += s[i].genuine ? -w.genuine : w.impostor;
    }
    if (correct > best_correct) {  // strict: ties keep the smaller threshold
      best_correct = correct;
      best = i < s.size() ? score + (s[i].score - score) / 2 : kInf;
    }
  }
  return {best, static_cast<double>(best_correct) / static_cast<double>(w.total)};
}

KFoldResult kfold_verification(std::span<const ScoredPair> pairs) {
  std::map<int, std::vector<ScoredPair>> by_fold;
  for (const auto& p : pairs) by_fold[p.fold].push_back(p);
  if (by_fold.size() < 2) {
    throw Error("eval", "k-fold verification needs at least two folds, got " +
                            std::to_string(by_fold.size()));
  }
  KFoldResult r;
  std::vector<double> accuracies;
  for (const auto& [fold, test] : by_fold) {
    std::vector<ScoredPair> train;
    train.reserve(pairs.size() - test.size());
    for (const auto& p : pairs) {
      if (p.fold != fold) train.push_back(p);
    }
    const ThresholdChoice t = best_threshold(train);
    FoldResult f;
    f.fold = fold;
    f.threshold = t.threshold;
    f.train_accuracy = t.accuracy;
    f.accuracy = accuracy_at(test, t.threshold);
    f.pairs = static_cast<int>(test.size());
    accuracies.push_back(f.accuracy);
    r.folds.push_back(f);
  }
  r.accuracy = mean_std(accuracies);
  return r;
}

std::vector<RocPoint> roc_curve(std::span<const ScoredPair> pairs) {
  const Counts c = require_both(pairs, "a ROC curve");
  const std::vector<ScoredPair> s = sorted_by_score(pairs, true);
  std::vector<RocPoint> points;
  points.push_back({s.front().score, 0, 0});
  int tp = 0, fp = 0;
  for (std::size_t i = 0; i < s.size();) {
    const double score = s[i].score;
    for (; i < s.size() && s[i].score == score; ++i) (s[i].genuine ? tp : fp)++;
    const double next = i < s.size() ? s[i].score : -kInf;
    points.push_back(
        {next, static_cast<double>(fp) / c.impostor, static_cast<double>(tp) / c.genuine});
  }
  return points;
}

double roc_auc(std::span<const ScoredPair> pairs) {
  const Counts c = require_both(pairs, "ROC AUC");
  const std::vector<ScoredPair> s = sorted_by_score(pairs, false);
  double genuine_rank_sum = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    while (j < s.size() && s[j].score == s[i].score) ++j;
    const double mid_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (std::size_t k = i; k < j; ++k) {
      if (s[k].genuine) genuine_rank_sum += mid_rank;
    }
    i = j;
  }
  const double g = c.genuine, n = c.impostor;
  return (genuine_rank_sum - g * (g + 1) / 2) / (g * n);
}

double equal_error_rate(std::span<const ScoredPair> pairs) {
  const std::vector<RocPoint> roc = roc_curve(pairs);
  // far + tar rises from 0 to 2 along the curve; FAR = FRR where it equals 1.
  for (std::size_t i = 1; i < roc.size(); ++i) {
    const double a = roc[i - 1].far + roc[i - 1].tar, b = roc[i].far + roc[i].tar;
    if (b >= 1) {
      const double alpha = b > a ? (1 - a) / (b - a) : 0;
      return roc[i - 1].far + alpha * (roc[i].far - roc[i - 1].far);
    }
  }
  return roc.back().far;  // unreachable: the last point is (1, 1)
}

double threshold_at_far(std::span<const ScoredPair> pairs, double far) {
  if (!(far >= 0 && far < 1)) {
    throw Error("eval", "target FAR must be in [0, 1), got " + std::to_string(far));
  }
  std::vector<double> impostors;
  for (const auto& p : pairs) {
    if (!p.genuine) impostors.push_back(p.score);
  }
  if (impostors.empty()) throw Error("eval", "a threshold for a FAR needs impostor pairs");
  std::sort(impostors.begin(), impostors.end(), std::greater<>());
  // The epsilon keeps e.g. 1e-3 * 3000 from flooring to 2 through rounding.
  const auto allowed =
      static_cast<std::size_t>(std::floor(far * static_cast<double>(impostors.size()) + 1e-9));
  return allowed < impostors.size() ? impostors[allowed] : -kInf;
}

RocPoint tar_at_far(std::span<const ScoredPair> pairs, double far) {
  const Counts c = require_both(pairs, "TAR at FAR");
  RocPoint r;
  r.threshold = threshold_at_far(pairs, far);
  int tp = 0, fp = 0;
  for (const auto& p : pairs) {
    if (p.score > r.threshold) (p.genuine ? tp : fp)++;
  }
  r.tar = static_cast<double>(tp) / c.genuine;
  r.far = static_cast<double>(fp) / c.impostor;
  return r;
}

std::vector<float> mean_template(const std::vector<std::vector<float>>& embeddings) {
  std::vector<double> sum;
  for (const auto& e : embeddings) {
    if (e.empty()) continue;
    if (sum.empty()) sum.assign(e.size(), 0.0);
    if (e.size() != sum.size())
      throw Error("eval", "embeddings of different lengths in a template");
    for (std::size_t i = 0; i < e.size(); ++i) sum[i] += e[i];
  }
  std::vector<float> t(sum.begin(), sum.end());
  l2_normalise(t);
  return t;
}

RocPoint tpir_at_fpir(std::span<const ProbeSearch> searches, double fpir) {
  if (searches.empty()) throw Error("eval", "TPIR at FPIR needs probe searches");
  std::vector<ScoredPair> pairs;
  pairs.reserve(2 * searches.size());
  for (const auto& s : searches) {
    pairs.push_back({s.mated, true, 0});
    pairs.push_back({s.nonmated, false, 0});
  }
  return tar_at_far(pairs, fpir);
}

RocPoint open_set_at(std::span<const ProbeSearch> searches, std::span<const double> thresholds) {
  if (searches.empty()) throw Error("eval", "open-set figures need probe searches");
  if (searches.size() != thresholds.size()) {
    throw Error("eval", "open-set figures: " + std::to_string(searches.size()) + " searches but " +
                            std::to_string(thresholds.size()) + " thresholds");
  }
  RocPoint r;
  double with_face = 0, sum_t = 0;
  for (std::size_t p = 0; p < searches.size(); ++p) {
    const double t = thresholds[p];
    r.tar += searches[p].mated > t;
    r.far += searches[p].nonmated > t;
    if (searches[p].mated > -2 || searches[p].nonmated > -2) sum_t += t, with_face += 1;
  }
  const double n = static_cast<double>(searches.size());
  r.tar /= n;
  r.far /= n;
  r.threshold = with_face > 0 ? sum_t / with_face : 0;
  return r;
}

double IdentificationResult::rank(int k) const {
  if (probes == 0 || k < 1 || hits.empty()) return 0;
  const auto i = static_cast<std::size_t>(std::min<int>(k, static_cast<int>(hits.size())) - 1);
  return static_cast<double>(hits[i]) / probes;
}

namespace {

// Eight independent sums let the compiler use SIMD without -ffast-math; LFW's 5,000 probes
// against 5,700 templates are 3e7 products, a few seconds this way and ten times more through
// cosine() or OpenCV's gemm.
float dot(const float* a, const float* b, std::size_t n) {
  float s[8] = {};
  std::size_t k = 0;
  for (; k + 8 <= n; k += 8) {
    for (int i = 0; i < 8; ++i) s[i] += a[k + i] * b[k + i];
  }
  for (; k < n; ++k) s[0] += a[k] * b[k];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

}  // namespace

IdentificationResult identify_closed_set(const std::vector<std::vector<float>>& templates,
                                         const std::vector<std::vector<float>>& probes,
                                         const std::vector<int>& labels, int max_rank) {
  if (probes.size() != labels.size()) throw Error("eval", "probes and labels differ in number");
  if (max_rank < 1) throw Error("eval", "max_rank must be at least 1");
  IdentificationResult r;
  r.probes = static_cast<int>(probes.size());
  r.hits.assign(static_cast<std::size_t>(max_rank), 0);
  std::size_t dim = 0;
  for (const auto& t : templates) dim = t.empty() ? dim : t.size();
  // Unit rows, so that a dot product is the cosine; an empty template stays a row of zeros and
  // is skipped as a competitor.
  auto unit = [dim](const std::vector<float>& v) {
    if (v.size() != dim) throw Error("eval", "identification embeddings of different lengths");
    std::vector<float> u = v;
    l2_normalise(u);
    return u;
  };
  std::vector<float> gallery(templates.size() * dim, 0.f);
  for (std::size_t j = 0; j < templates.size(); ++j) {
    if (!templates[j].empty()) std::ranges::copy(unit(templates[j]), gallery.begin() + j * dim);
  }
  const int n_templates = static_cast<int>(templates.size());
  std::vector<float> sim(templates.size());
  r.searches.assign(probes.size(), ProbeSearch{});
  for (std::size_t p = 0; p < probes.size(); ++p) {
    const int label = labels[p];
    if (probes[p].empty() || label < 0 || label >= n_templates ||
        templates[static_cast<std::size_t>(label)].empty()) {
      continue;  // no face or no template: a miss at every rank
    }
    const std::vector<float> probe = unit(probes[p]);
    for (std::size_t j = 0; j < templates.size(); ++j) {
      sim[j] = dot(probe.data(), gallery.data() + j * dim, dim);
    }
    const float own = sim[static_cast<std::size_t>(label)];
    int rank = 1;
    double best_other = -2;
    for (int j = 0; j < n_templates; ++j) {
      if (j == label || templates[static_cast<std::size_t>(j)].empty()) continue;
      if (sim[j] >= own) ++rank;
      best_other = std::max(best_other, static_cast<double>(sim[j]));
    }
    for (int k = rank; k <= max_rank; ++k) ++r.hits[static_cast<std::size_t>(k - 1)];
    r.searches[p] = {rank == 1 ? static_cast<double>(own) : -2.0, best_other};
  }
  return r;
}

std::optional<double> gap_recovered(double method, double bicubic, double full) {
  if (full == bicubic) return std::nullopt;
  return (method - bicubic) / (full - bicubic);
}

PairedDifference paired_difference(std::span<const double> a, std::span<const double> b) {
  if (a.size() != b.size()) {
    throw Error("eval", "paired difference of " + std::to_string(a.size()) + " and " +
                            std::to_string(b.size()) + " folds");
  }
  PairedDifference d;
  for (std::size_t i = 0; i < a.size(); ++i) d.per_fold.push_back(a[i] - b[i]);
  d.difference = mean_std(d.per_fold);
  return d;
}

}  // namespace vlrface::eval
