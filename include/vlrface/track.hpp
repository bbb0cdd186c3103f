// vlrface/track.hpp — short-term face tracking by box overlap, and a vote over recent frames,
// so a live name does not flicker from frame to frame. A box that overlaps a track but whose
// embedding is far from the track's recent ones may be another person who stepped into the same
// place. For that frame the track shows no name (the previous person's name is never shown on
// someone else); when the next frame is far again, the boxes start a new track (new id, votes
// from those frames only). One odd frame of the same person (blur, a turned head: on 16-px faces
// a same-person pair often falls below the threshold) therefore costs one frame without a name
// instead of a new track whose vote starts from nothing.
//
// Usage:
//   vlrface::Tracker tracker({});
//   auto ids = tracker.update(boxes, observations);   // one call per frame, same order as boxes
//   const vlrface::TrackState& t = tracker.state(ids[0]);   // t.name is the voted decision
// Thread safety: one Tracker per video stream (not thread safe).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vlrface {

struct TrackerOptions {
  float min_iou = 0.3f;     // a box continues a track when it overlaps it this much
  int max_missed = 5;       // frames a track survives without a box
  int vote_window = 7;      // frames in the vote
  int min_votes = 3;        // a name needs this many of the window (and a strict majority)
  int identity_window = 5;  // recent embeddings a new box is compared with
  // Consecutive frames far from every recent embedding before the track splits (1: at once).
  int split_after = 2;
};

struct Observation {
  std::optional<std::string> name;  // this frame's decision (nullopt: unknown)
  float similarity = 0;
  // The face's embedding (empty: none, e.g. too small to recognise: no identity check) and the
  // cosine at or below which two faces are different people (the threshold the face was judged
  // with). A box whose embedding is at or below `same_threshold` against every one of the
  // track's recent embeddings does not continue that track.
  std::vector<float> embedding;
  float same_threshold = 0;
};

struct TrackState {
  std::int64_t id = 0;
  cv::Rect2f box;
  std::optional<std::string> name;  // the voted name; nullopt: unknown / undecided
  float similarity = 0;             // mean similarity of the votes for `name`
  int age = 0;                      // frames seen
  int missed = 0;
  // This frame's face matched none of the track's recent faces: maybe someone else (no name is
  // shown); the next such frame splits the track.
  bool suspect = false;
};

class Tracker {
 public:
  explicit Tracker(TrackerOptions options = {});
  // Associates boxes with tracks (greedy by IoU), records the observations and returns the
  // track id of each box.
  std::vector<std::int64_t> update(const std::vector<cv::Rect2f>& boxes,
                                   const std::vector<Observation>& observations);
  const TrackState& state(std::int64_t id) const;
  std::vector<TrackState> tracks() const;
  void reset();
  // Forgets every track's votes but keeps the tracks and their ids: after a change of settings
  // or gallery, old votes would decide for the new ones, yet the faces are the same.
  void clear_votes();

 private:
  struct Track {
    TrackState state;
    std::deque<Observation> history;            // names and similarities, embeddings dropped
    std::deque<std::vector<float>> embeddings;  // the last identity_window (L2-normalised)
    // Consecutive far frames, kept out of the votes and the identity window until the track
    // splits (then they start the new track) or a near frame shows they were the same person.
    std::vector<Observation> far;
  };
  // Appends a frame's observation to the votes and the identity window.
  void record(Track& t, Observation o) const;
  void vote(Track& t) const;
  // Whether `o` can be the person of `t` (true when either has no embedding to compare).
  bool same_identity(const Track& t, const Observation& o) const;
  TrackerOptions options_;
  std::map<std::int64_t, Track> tracks_;
  std::int64_t next_id_ = 1;
};

float iou(const cv::Rect2f& a, const cv::Rect2f& b);

}  // namespace vlrface
