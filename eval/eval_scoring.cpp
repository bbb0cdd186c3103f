#include "eval_scoring.hpp"

#include <algorithm>

#include "vlrface/embed.hpp"
#include "vlrface/eval.hpp"

namespace vlrface::evaluation {
namespace {

// A pair with a face that could not be found is scored as the least similar possible.
double pair_score(const std::vector<float>& a, const std::vector<float>& b) {
  return a.empty() || b.empty() ? -1.0 : static_cast<double>(cosine(a, b));
}

// Accuracy, ROC and TAR figures of scored pairs (no product thresholds).
Verification summarise(std::vector<eval::ScoredPair> scores, double calibrate) {
  Verification v;
  v.scores = std::move(scores);
  v.kfold = eval::kfold_verification(v.scores);
  v.auc = eval::roc_auc(v.scores);
  v.eer = eval::equal_error_rate(v.scores);
  v.tar_1e2 = eval::tar_at_far(v.scores, 1e-2);
  v.tar_1e3 = eval::tar_at_far(v.scores, 1e-3);
  v.best_threshold = eval::best_threshold(v.scores).threshold;
  if (calibrate > 0) v.calibration = eval::tar_at_far(v.scores, calibrate);
  return v;
}

Verification verify(const Work& work, const Embeddings& first, const Embeddings& second,
                    double calibrate, const Thresholds& t_first, const Thresholds& t_second) {
  std::vector<eval::ScoredPair> scores;
  for (const auto& p : work.pairs) scores.push_back({pair_score(first[p.a], second[p.b]), p.genuine, p.fold});
  Verification v = summarise(std::move(scores), calibrate);
  double genuine = 0, impostor = 0, accepted_g = 0, accepted_i = 0, sum_t = 0, found = 0;
  const bool hrlr = &first != &second;
  for (std::size_t k = 0; k < work.pairs.size(); ++k) {
    const auto& p = work.pairs[k];
    // HR-LR: the small face's threshold, calibrated on such pairs; LR-LR: the stricter one.
    const float t = hrlr ? t_second[p.b] : std::max(t_first[p.a], t_second[p.b]);
    const bool accept = v.scores[k].score > t;  // a missing face scores -1: rejected
    if (v.scores[k].score > -1) sum_t += t, found += 1;
    (p.genuine ? genuine : impostor) += 1;
    (p.genuine ? accepted_g : accepted_i) += accept;
  }
  if (genuine > 0 && impostor > 0) {
    v.product = eval::RocPoint{found > 0 ? sum_t / found : 0, accepted_i / impostor,
                               accepted_g / genuine};
  }
  return v;
}

// `t_probes`: per image, the threshold its small face was judged with (the product's figure).
eval::IdentificationResult identify(const Work& work, const Embeddings& gallery,
                                    const Embeddings& probes, const Thresholds& t_probes) {
  std::vector<Embeddings> per_identity(work.identities.size());
  for (const auto& [image, id] : work.gallery) {
    per_identity[static_cast<std::size_t>(id)].push_back(gallery[image]);
  }
  Embeddings templates;
  for (const auto& e : per_identity) templates.push_back(eval::mean_template(e));
  Embeddings p;
  std::vector<int> labels;
  std::vector<double> thresholds;
  for (const auto& [image, id] : work.probe) {
    p.push_back(probes[image]);
    labels.push_back(id);
    thresholds.push_back(t_probes[image]);
  }
  eval::IdentificationResult r = eval::identify_closed_set(templates, p, labels, 5);
  if (!r.searches.empty()) r.product = eval::open_set_at(r.searches, thresholds);
  return r;
}

// normalise(a + b) of two unit embeddings; empty when either is.
std::vector<float> fused(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.empty() || b.empty()) return {};
  std::vector<float> out(a.size());
  for (std::size_t k = 0; k < a.size(); ++k) out[k] = a[k] + b[k];
  l2_normalise(out);
  return out;
}

std::vector<double> fold_accuracies(const Verification& v) {
  std::vector<double> a;
  for (const auto& f : v.kfold.folds) a.push_back(f.accuracy);
  return a;
}

}  // namespace

Work plan_work(const EvalDataset& d, int limit_folds, bool* identification_skipped) {
  Work w;
  if (d.has_pairs()) {
    w.folds = limit_folds > 0 ? std::min(limit_folds, d.pairs.folds) : d.pairs.folds;
    for (const auto& p : d.pairs.pairs) {
      if (p.fold >= w.folds) continue;
      w.pairs.push_back({w.add(p.first), w.add(p.second), p.genuine, p.fold});
    }
  }
  // --limit-folds asks for a quick look at the selected folds: identification would read the
  // whole gallery and probe lists (all 13,232 images of LFW for 2 folds' ~2,400), so it is
  // left out and the report says so.
  *identification_skipped = limit_folds > 0 && d.has_pairs() && d.has_identification();
  if (*identification_skipped) return w;
  std::map<std::string, int> label;
  for (const auto& g : d.gallery) label.emplace(g.identity, 0);
  for (auto& [name, i] : label) {
    i = static_cast<int>(w.identities.size());
    w.identities.push_back(name);
  }
  for (const auto& g : d.gallery) w.gallery.emplace_back(w.add(g.file), label.at(g.identity));
  for (const auto& p : d.probe) w.probe.emplace_back(w.add(p.file), label.at(p.identity));
  return w;
}

void score(const Work& work, const Embeddings& full, const Embeddings& lr,
           const Thresholds& t_full, const Thresholds& t_lr, bool is_full, double calibrate,
           ConditionResult& r) {
  if (!work.pairs.empty()) {
    r.lrlr = verify(work, lr, lr, calibrate, t_lr, t_lr);
    if (!is_full) r.hrlr = verify(work, full, lr, calibrate, t_full, t_lr);
  }
  if (!work.gallery.empty()) r.identification = identify(work, full, lr, is_full ? t_full : t_lr);
}

void score_matched(const Work& work, const Embeddings& full, const Embeddings& lr,
                   const std::map<int, Embeddings>& at_size, const std::vector<int>& template_px,
                   double calibrate, ConditionResult& r) {
  auto hr_for = [&](std::size_t image, std::size_t small_face) -> std::vector<float> {
    const int s = template_px[small_face];
    return s ? fused(full[image], at_size.at(s)[image]) : std::vector<float>();
  };
  if (!work.pairs.empty()) {
    std::vector<eval::ScoredPair> scores;
    for (const auto& p : work.pairs) scores.push_back({pair_score(hr_for(p.a, p.b), lr[p.b]), p.genuine, p.fold});
    r.hrlr = summarise(std::move(scores), calibrate);
  }
  if (work.gallery.empty()) return;
  // Probes grouped by the template size they need; each group against templates of that size.
  eval::IdentificationResult total;
  total.hits.assign(5, 0);
  std::map<int, std::vector<std::size_t>> groups;
  for (std::size_t k = 0; k < work.probe.size(); ++k) groups[template_px[work.probe[k].first]].push_back(k);
  for (const auto& [s, members] : groups) {
    std::vector<Embeddings> per_identity(work.identities.size());
    for (const auto& [image, id] : work.gallery) {
      per_identity[static_cast<std::size_t>(id)].push_back(
          s ? fused(full[image], at_size.at(s)[image]) : full[image]);
    }
    Embeddings templates;
    for (const auto& e : per_identity) templates.push_back(eval::mean_template(e));
    Embeddings probes;
    std::vector<int> labels;
    for (std::size_t k : members) {
      probes.push_back(lr[work.probe[k].first]);  // empty (no face found): a miss
      labels.push_back(work.probe[k].second);
    }
    const eval::IdentificationResult g = eval::identify_closed_set(templates, probes, labels, 5);
    total.probes += g.probes;
    for (std::size_t k = 0; k < total.hits.size(); ++k) total.hits[k] += g.hits[k];
    total.searches.insert(total.searches.end(), g.searches.begin(), g.searches.end());
  }
  r.identification = total;
}

void compare(Report& report) {
  const ConditionResult* full = &report.results.front();
  for (auto& r : report.results) {
    const Condition& c = r.condition;
    if (c.kind == Condition::Kind::kFull || !r.lrlr || !full->lrlr) continue;
    const std::string ref_path = c.kind == Condition::Kind::kNative ? "base" : "bicubic";
    const ConditionResult* ref = nullptr;
    for (const auto& o : report.results) {
      if (o.condition.kind == c.kind && o.condition.px == c.px && o.condition.path == ref_path) {
        ref = &o;
      }
    }
    r.vs_full = eval::paired_difference(fold_accuracies(*r.lrlr), fold_accuracies(*full->lrlr));
    if (!ref) continue;
    if (ref != &r) {
      r.vs_reference =
          eval::paired_difference(fold_accuracies(*r.hrlr), fold_accuracies(*ref->hrlr));
    }
    const double top = full->lrlr->kfold.accuracy.mean;
    r.gap_lrlr = eval::gap_recovered(r.lrlr->kfold.accuracy.mean, ref->lrlr->kfold.accuracy.mean, top);
    r.gap_hrlr = eval::gap_recovered(r.hrlr->kfold.accuracy.mean, ref->hrlr->kfold.accuracy.mean, top);
  }
}

}  // namespace vlrface::evaluation
