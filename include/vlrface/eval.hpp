// vlrface/eval.hpp — verification and identification metrics on similarity scores (no I/O).
//
// Usage:
//   std::vector<vlrface::eval::ScoredPair> pairs = ...;        // score, genuine?, fold
//   auto v = vlrface::eval::kfold_verification(pairs);          // LFW View-2 10-fold accuracy
//   double auc = vlrface::eval::roc_auc(pairs);
//   auto op = vlrface::eval::tar_at_far(pairs, 1e-3);
//
// Conventions, the same in every function and in docs/EVALUATION.md:
//  * Decision rule: a pair is accepted ("same person") iff score > threshold. A score equal to the
//    threshold is rejected, so an impostor exactly at the threshold is not a false accept.
//  * Spread over folds is the sample standard deviation (ddof = 1), as in the LFW results pages;
//    the standard error is std / sqrt(folds).
//  * Infinite thresholds (accept all / reject all) appear only for degenerate score sets.
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <span>
#include <vector>

namespace vlrface::eval {

struct ScoredPair {
  double score = 0;
  bool genuine = false;
  int fold = 0;
};

struct MeanStd {
  double mean = 0;
  double std = 0;  // sample standard deviation (ddof = 1); 0 for fewer than two values
};

MeanStd mean_std(std::span<const double> values);

// Share of pairs decided correctly at `threshold`, class-balanced: the mean of the genuine and
// the impostor pairs' rates (the plain share when they are as many, as in LFW).
double accuracy_at(std::span<const ScoredPair> pairs, double threshold);

struct ThresholdChoice {
  double threshold = 0;
  double accuracy = 0;  // on the pairs it was chosen on
};

// The threshold maximising (class-balanced) accuracy on `pairs`. Candidates are the midpoints
// between adjacent distinct scores (plus -inf and +inf), since any threshold inside one gap
// decides the same way and the midpoint is the least arbitrary point for unseen pairs. Ties go
// to the smallest candidate.
ThresholdChoice best_threshold(std::span<const ScoredPair> pairs);

struct FoldResult {
  int fold = 0;
  double threshold = 0;       // chosen on all the other folds
  double train_accuracy = 0;  // on those other folds
  double accuracy = 0;        // on this fold
  int pairs = 0;              // in this fold
};

struct KFoldResult {
  std::vector<FoldResult> folds;  // in increasing fold id
  MeanStd accuracy;
};

// LFW View-2: for each fold, the threshold is chosen on the other folds and applied to it.
// Throws Error("eval", ...) with fewer than two folds.
KFoldResult kfold_verification(std::span<const ScoredPair> pairs);

struct RocPoint {
  double threshold = 0;  // accept iff score > threshold
  double far = 0;        // impostors accepted / impostors
  double tar = 0;        // genuine pairs accepted / genuine pairs
};

// One point per distinct score (threshold = that score), from (0, 0) to (1, 1) (threshold -inf).
// Throws Error("eval", ...) unless there is at least one genuine and one impostor pair.
std::vector<RocPoint> roc_curve(std::span<const ScoredPair> pairs);

// Area under the ROC curve as the Mann-Whitney statistic: P(genuine > impostor) plus half of
// P(genuine == impostor), computed from mid-ranks so that ties count exactly one half.
double roc_auc(std::span<const ScoredPair> pairs);

// Where the ROC curve, linearly interpolated between its points, crosses FAR = 1 - TAR.
double equal_error_rate(std::span<const ScoredPair> pairs);

// The smallest threshold whose FAR <= `far` (0 <= far < 1): with impostor scores sorted from the
// highest, the (m+1)-th of them, m = floor(far * impostors). Throws Error("eval", ...) otherwise.
double threshold_at_far(std::span<const ScoredPair> pairs, double far);

// TAR (and the FAR actually reached) at threshold_at_far(pairs, far).
RocPoint tar_at_far(std::span<const ScoredPair> pairs, double far);

// Mean of the non-empty embeddings, L2-normalised; empty when all are empty.
std::vector<float> mean_template(const std::vector<std::vector<float>>& embeddings);

// One probe's search of the gallery, for open-set figures: its similarity to its own template
// when that template is strictly the most similar (else -2: not named correctly at any
// threshold), and its highest similarity to any other template (the search with its own
// template left out: what it would score as someone not enrolled). A probe without a face:
// both -2 (neither a hit nor a false alarm).
struct ProbeSearch {
  double mated = -2;
  double nonmated = -2;
};

// Open-set identification at a false positive identification rate: the threshold is chosen on
// the non-mated searches (threshold_at_far's rule: accept iff score > threshold), TPIR is the
// share of mated searches named correctly above it. Throws Error("eval", ...) without searches.
RocPoint tpir_at_fpir(std::span<const ProbeSearch> searches, double fpir);

// Open-set figures at a threshold of each probe's own (the product's: each face is judged with
// the threshold calibrated for its size and recovery): TPIR = share of mated searches above
// theirs, FPIR = share of non-mated searches above theirs; `threshold` is the mean over probes
// with a face. Throws Error("eval", ...) when the sizes differ or there are no searches.
RocPoint open_set_at(std::span<const ProbeSearch> searches, std::span<const double> thresholds);

struct IdentificationResult {
  int probes = 0;
  std::vector<int> hits;     // hits[k-1]: probes whose identity is among the k best templates
  double rank(int k) const;  // share of probes; 0 when there are no probes
  std::vector<ProbeSearch> searches;  // per probe, in probe order
  std::optional<RocPoint> product;    // open-set at the product's thresholds (open_set_at)
};

// Closed-set identification by cosine. labels[i] is the index of probe i's template; a probe with
// an empty embedding (no face) or a label of -1 (no template) is a miss at every rank. A probe's
// rank counts every other template at least as similar as the true one (ties are not wins).
// Also each probe's search (ProbeSearch) for the open-set figures.
IdentificationResult identify_closed_set(const std::vector<std::vector<float>>& templates,
                                         const std::vector<std::vector<float>>& probes,
                                         const std::vector<int>& labels, int max_rank = 5);

// (method - bicubic) / (full - bicubic); nullopt when full == bicubic (no gap to recover).
std::optional<double> gap_recovered(double method, double bicubic, double full);

struct PairedDifference {
  std::vector<double> per_fold;  // a[i] - b[i]
  MeanStd difference;
};

// Per-fold differences between two methods evaluated on the same folds. Throws on a size mismatch.
PairedDifference paired_difference(std::span<const double> a, std::span<const double> b);

}  // namespace vlrface::eval
