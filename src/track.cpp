#include "vlrface/track.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"

namespace vlrface {
namespace {

std::vector<float> normalised(std::vector<float> v) {
  l2_normalise(v);
  return v;
}

}  // namespace

float iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float x0 = std::max(a.x, b.x);
  const float y0 = std::max(a.y, b.y);
  const float x1 = std::min(a.x + a.width, b.x + b.width);
  const float y1 = std::min(a.y + a.height, b.y + b.height);
  const float inter = std::max(0.0f, x1 - x0) * std::max(0.0f, y1 - y0);
  const float uni = std::max(0.0f, a.area()) + std::max(0.0f, b.area()) - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

Tracker::Tracker(TrackerOptions options) : options_(options) {
  if (options_.vote_window < 1 || options_.min_votes < 1 || options_.max_missed < 0 ||
      options_.identity_window < 1 || options_.split_after < 1) {
    throw Error("track",
                "vote_window, min_votes, identity_window and split_after must be >= 1, "
                "max_missed >= 0");
  }
}

std::vector<std::int64_t> Tracker::update(const std::vector<cv::Rect2f>& boxes,
                                          const std::vector<Observation>& observations) {
  if (observations.size() != boxes.size()) {
    throw Error("track", std::to_string(boxes.size()) + " boxes but " +
                             std::to_string(observations.size()) + " observations");
  }
  // Greedy best-overlap-first: with the few faces of a camera frame this gives the same pairs as
  // an optimal assignment in practice, at no cost.
  std::vector<std::tuple<float, std::int64_t, std::size_t>> pairs;
  for (const auto& [id, t] : tracks_) {
    for (std::size_t b = 0; b < boxes.size(); ++b) {
      const float o = iou(t.state.box, boxes[b]);
      if (o >= options_.min_iou && o > 0) pairs.emplace_back(o, id, b);
    }
  }
  std::sort(pairs.begin(), pairs.end(), [](const auto& x, const auto& y) {
    // Ties broken by id then box so the result does not depend on the sort's stability.
    if (std::get<0>(x) != std::get<0>(y)) return std::get<0>(x) > std::get<0>(y);
    if (std::get<1>(x) != std::get<1>(y)) return std::get<1>(x) < std::get<1>(y);
    return std::get<2>(x) < std::get<2>(y);
  });
  std::vector<std::int64_t> ids(boxes.size(), 0);
  std::vector<bool> far(boxes.size(), false);
  std::vector<std::vector<Observation>> carried(boxes.size());  // far frames that start a track
  std::map<std::int64_t, bool> matched;
  // First the boxes that are the track's person, then (for boxes and tracks left) the far ones:
  // a box that is far from one track it overlaps may be near another (its own new track, split
  // off in an earlier frame, overlaps the old one just as well).
  for (const auto& [o, id, b] : pairs) {
    if (ids[b] != 0 || matched[id] || !same_identity(tracks_.at(id), observations[b])) continue;
    ids[b] = id;
    matched[id] = true;
  }
  std::vector<bool> split(boxes.size(), false);
  for (const auto& [o, id, b] : pairs) {
    if (ids[b] != 0 || split[b] || matched[id]) continue;
    Track& t = tracks_.at(id);
    if (static_cast<int>(t.far.size()) + 1 < options_.split_after) {
      far[b] = true;  // maybe someone else: this frame stays out of the track's votes
      ids[b] = id;
      matched[id] = true;
    } else {
      // Someone else in the same place (the previous person left, another stepped in): a new
      // track, so the old name and its votes do not carry over to them. The old track is only
      // missed, and continues should its person come back within max_missed frames.
      carried[b] = std::move(t.far);
      t.far.clear();
      split[b] = true;
    }
  }
  for (auto it = tracks_.begin(); it != tracks_.end();) {
    if (matched[it->first]) {
      ++it;
      continue;
    }
    it->second.far.clear();  // "consecutive" far frames: a frame without the face breaks the run
    if (++it->second.state.missed > options_.max_missed) {
      it = tracks_.erase(it);
    } else {
      ++it;
    }
  }
  for (std::size_t b = 0; b < boxes.size(); ++b) {
    if (ids[b] == 0) {
      ids[b] = next_id_++;
      tracks_[ids[b]].state.id = ids[b];
    }
    Track& t = tracks_[ids[b]];
    t.state.box = boxes[b];
    t.state.missed = 0;
    ++t.state.age;
    t.state.suspect = far[b];
    if (far[b]) {
      t.far.push_back(observations[b]);
      t.state.name.reset();
      t.state.similarity = observations[b].similarity;
      continue;
    }
    // A near frame: earlier far ones were the same person after all (an odd frame); they are
    // dropped rather than voted, since what they showed is in doubt.
    t.far.clear();
    for (Observation& c : carried[b]) record(t, std::move(c));
    record(t, observations[b]);
    vote(t);
  }
  return ids;
}

void Tracker::record(Track& t, Observation o) const {
  if (!o.embedding.empty()) {
    t.embeddings.push_back(normalised(o.embedding));
    while (static_cast<int>(t.embeddings.size()) > options_.identity_window) {
      t.embeddings.pop_front();
    }
  }
  o.embedding = {};  // the vote needs names only; the window above keeps what identity needs
  t.history.push_back(std::move(o));
  while (static_cast<int>(t.history.size()) > options_.vote_window) t.history.pop_front();
}

// The most similar of the recent embeddings decides, not their mean: a frame that was blurred
// or half turned then does not split the track on its own, while another person is far from
// all of them.
bool Tracker::same_identity(const Track& t, const Observation& o) const {
  if (o.embedding.empty() || t.embeddings.empty()) return true;
  const std::vector<float> e = normalised(o.embedding);
  float best = -2;
  for (const auto& r : t.embeddings) {
    if (r.size() != e.size()) return true;  // another model's embeddings: nothing to compare
    double dot = 0;
    for (std::size_t i = 0; i < e.size(); ++i) dot += static_cast<double>(e[i]) * r[i];
    best = std::max(best, static_cast<float>(dot));
  }
  return best > o.same_threshold;
}

// A name wins only with at least min_votes AND more than half of the recorded votes, where an
// "unknown" frame is a vote too: one misrecognised frame never flips a name, and a face that is
// recognised only now and then stays unknown rather than being labelled with a guess.
void Tracker::vote(Track& t) const {
  std::map<std::string, std::pair<int, float>> counts;  // name -> (votes, similarity sum)
  int unknown = 0;
  float unknown_sum = 0;
  for (const Observation& o : t.history) {
    if (o.name) {
      auto& c = counts[*o.name];
      ++c.first;
      c.second += o.similarity;
    } else {
      ++unknown;
      unknown_sum += o.similarity;
    }
  }
  const int total = static_cast<int>(t.history.size());
  const std::pair<int, float>* best = nullptr;
  const std::string* best_name = nullptr;
  for (const auto& [name, c] : counts) {
    if (!best || c.first > best->first) {
      best = &c;
      best_name = &name;
    }
  }
  if (best && best->first >= options_.min_votes && 2 * best->first > total) {
    t.state.name = *best_name;
    t.state.similarity = best->second / static_cast<float>(best->first);
    return;
  }
  t.state.name.reset();
  // Undecided: the unknown votes' mean says how far the face is from anyone; with none yet, the
  // latest frame's similarity is the best there is.
  t.state.similarity = unknown > 0 ? unknown_sum / static_cast<float>(unknown)
                                   : (total > 0 ? t.history.back().similarity : 0.0f);
}

const TrackState& Tracker::state(std::int64_t id) const {
  auto it = tracks_.find(id);
  if (it == tracks_.end()) throw Error("track", "no track with id " + std::to_string(id));
  return it->second.state;
}

std::vector<TrackState> Tracker::tracks() const {
  std::vector<TrackState> out;
  out.reserve(tracks_.size());
  for (const auto& [id, t] : tracks_) out.push_back(t.state);
  return out;
}

// Ids keep counting after a reset so that a viewer never mistakes a new face for an old one.
void Tracker::reset() {
  tracks_.clear();
}

void Tracker::clear_votes() {
  for (auto& [id, t] : tracks_) {
    t.history.clear();
    // After a model switch the embeddings would not compare; the face is the same either way.
    t.embeddings.clear();
    t.far.clear();
    t.state.suspect = false;
    t.state.name.reset();
    t.state.similarity = 0;
  }
}

}  // namespace vlrface
