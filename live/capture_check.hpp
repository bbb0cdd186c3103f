// live/capture_check.hpp — is a camera capture one person, and is that person enrolled already?
// A capture enrols whoever is in view: when someone walks through, or two people take turns,
// its faces disagree, and the template would be a mix that matches neither; and a person who is
// enrolled under another name would be recognised as either from then on.
//
// Usage (ServeState::run_capture does this with the full-resolution embeddings):
//   const CaptureAgreement a = check_agreement(embeddings, threshold);
//   if (!a.agree) refuse(a.message(threshold));
//   for (const Candidate& c : already_enrolled(matcher, embeddings, threshold, name)) warn(c);
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "vlrface/match.hpp"

namespace vlrface::live {

struct CaptureAgreement {
  bool agree = true;
  // The face that agrees with the fewest others (0-based) and with how many of them; the least
  // similar pair of the capture and its cosine.
  int worst_face = -1;
  int worst_matches = 0;
  int pair_a = -1, pair_b = -1;
  float lowest = 1;
  int faces = 0;
  // Why the capture is refused, for the user (empty when it agrees).
  std::string message(float threshold) const;
};

// Faces agree when each is the same person (cosine > threshold) as at least half of the others:
// one turned or blurred frame that misses one partner does not refuse a good capture, while a
// second person, who matches few of the others, does. With two faces: the pair must match.
// Embeddings need not be normalised; all must have one length (Error("live", ...) otherwise).
CaptureAgreement check_agreement(const std::vector<std::vector<float>>& embeddings,
                                 float threshold);

// People of `gallery` the capture's mean embedding is the same person as (cosine > threshold),
// most similar first, except `self` (the person the faces are added to): one already enrolled
// under another name.
std::vector<Candidate> already_enrolled(const Matcher& gallery,
                                        const std::vector<std::vector<float>>& embeddings,
                                        float threshold, const std::string& self);

}  // namespace vlrface::live
