#pragma once
// One face of a live frame, from the pipeline's result to what the view shows and what the
// tracker is told: identify (the gallery's best match above the threshold) or verify (the one
// named person above the threshold). Pure: no engine state, so it is tested with synthetic
// embeddings and a Matcher made in the test.

#include "live_engine.hpp"
#include "vlrface/match.hpp"
#include "vlrface/pipeline.hpp"
#include "vlrface/track.hpp"

namespace vlrface::live {

struct FaceDecision {
  LiveFace face;            // the view's face; track_id, name and similarity are the tracker's
  Observation observation;  // this frame's decision, for the tracker's vote
};

// A face that could not be aligned (FaceStatus other than kOk) gets no embedding, no match and
// an empty observation. The threshold is `settings.threshold` when the user set one (>= -1),
// otherwise the face's calibrated one (`r.threshold`); the tracker's identity check always uses
// the calibrated one, so that a strict user setting does not split one person's track.
FaceDecision decide_face(const FaceResult& r, const LiveSettings& settings, const Matcher& m,
                         int top_k);

}  // namespace vlrface::live
