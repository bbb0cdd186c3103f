#include "face_decision.hpp"

#include <utility>

namespace vlrface::live {

FaceDecision decide_face(const FaceResult& r, const LiveSettings& settings, const Matcher& m,
                         int top_k) {
  FaceDecision d;
  LiveFace& lf = d.face;
  lf.box = r.face.box;
  lf.native_px = r.native_px;
  lf.working_px = r.working_px;
  lf.recovery = r.recovery;
  lf.too_small = r.status != FaceStatus::kOk;  // eyes too close together to align
  lf.lowres = r.lowres.empty() ? r.aligned : r.lowres;
  lf.upscaled = r.upscaled;
  if (lf.too_small) return d;
  Observation& o = d.observation;
  const float threshold = settings.threshold < -1 ? r.threshold : settings.threshold;
  lf.threshold = threshold;
  o.embedding = r.embedding;
  o.same_threshold = r.threshold;
  if (settings.task == "verify") {
    const std::optional<float> sim = m.similarity_to(r.embedding, settings.verify_name);
    o.similarity = sim.value_or(0.0f);
    if (sim && *sim > threshold) o.name = settings.verify_name;
    if (sim) lf.top.push_back({settings.verify_name, *sim});
  } else {
    MatchResult mr = decide(r, m, top_k, threshold);  // the CLI's rule, one place
    o.name = std::move(mr.name);
    o.similarity = mr.similarity;
    lf.top = std::move(mr.top);
  }
  return d;
}

}  // namespace vlrface::live
