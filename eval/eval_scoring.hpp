// eval/eval_scoring: the protocol's work list (images, pairs, gallery and probes as indices)
// and how embeddings become a row's figures: verification, identification, matched templates,
// gaps and paired differences. Internal to the evaluation library (eval_run.cpp).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "eval_run.hpp"
#include "vlrface/dataset.hpp"

namespace vlrface::evaluation {

// The images the protocol files reference, each once, and the pairs and lists as indices.
struct Work {
  std::vector<std::string> files;  // relative to the dataset
  std::map<std::string, std::size_t> index;
  struct Pair {
    std::size_t a, b;
    bool genuine;
    int fold;
  };
  std::vector<Pair> pairs;
  int folds = 0;
  std::vector<std::string> identities;  // of the gallery, sorted; template i is identities[i]
  std::vector<std::pair<std::size_t, int>> gallery, probe;  // (image, identity)

  std::size_t add(const std::string& file) {
    const auto [it, inserted] = index.emplace(file, files.size());
    if (inserted) files.push_back(file);
    return it->second;
  }
};

// The work of a dataset's protocol files; limit_folds > 0: only those folds' pairs and images,
// and no identification (*identification_skipped says whether there was any to skip).
Work plan_work(const EvalDataset& d, int limit_folds, bool* identification_skipped);

using Embeddings = std::vector<std::vector<float>>;
using Thresholds = std::vector<float>;  // per image: the threshold its face was judged with

// Verification (LR-LR when `first` and `second` are the same vector, else HR-LR) and closed-set
// identification of one row, from each image's embedding and the threshold its face was judged
// with (the product's figures; an empty embedding is a face not found).
void score(const Work& work, const Embeddings& full, const Embeddings& lr,
           const Thresholds& t_full, const Thresholds& t_lr, bool is_full, double calibrate,
           ConditionResult& r);

// A native row scored with resolution-matched templates (RunOptions::matched_sizes): the
// full-resolution side of each HR-LR pair and each gallery face is fused (normalised sum) with
// its own embedding at the template size the small face needs (`template_px[b]`, 0: no face).
// `at_size[s][i]`: image i's embedding as an s px face on the row's path. The product's
// thresholds were calibrated for plain comparisons, so no figure at them is given. LR-LR has no
// full-resolution side: the caller copies the plain row's.
void score_matched(const Work& work, const Embeddings& full, const Embeddings& lr,
                   const std::map<int, Embeddings>& at_size, const std::vector<int>& template_px,
                   double calibrate, ConditionResult& r);

// Gaps and paired differences of every row against the reference row of the same kind and size
// (simulated: bicubic; native: base) and the 112 px row (the first).
void compare(Report& report);

}  // namespace vlrface::evaluation
