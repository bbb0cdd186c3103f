// enroll, identify and verify.
#include <spdlog/spdlog.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "vlrface/align.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/match.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vlrface::cli {
namespace {

json box_json(const Face& f) {
  return {{"x", f.box.x}, {"y", f.box.y}, {"width", f.box.width}, {"height", f.box.height}};
}

// The faces of one image: detection, or the image itself when it is an aligned face.
std::vector<FaceResult> faces_of(Pipeline& p, const cv::Mat& image, bool aligned) {
  if (!aligned) return p.process(image);
  if (image.cols != kAlignedSize || image.rows != kAlignedSize) {
    throw Error("cli", "--aligned expects 112x112 faces, got " + std::to_string(image.cols) + "x" +
                           std::to_string(image.rows));
  }
  return {p.process_aligned(image)};
}

// --res, with the option named in the message.
int resolution_option(const std::string& text) {
  try {
    return parse_resolution(text);
  } catch (const Error& e) {
    throw Error("cli", std::string("--res: ") + e.what());
  }
}

// --threshold overrides every face's calibrated threshold; below -1 it is not given.
std::optional<float> threshold_override(double t) {
  if (t < -1) return std::nullopt;
  return static_cast<float>(t);
}

json face_json(const FaceResult& r, const Matcher& matcher, int top_k,
               std::optional<float> threshold) {
  json f = {{"box", box_json(r.face)},
            {"score", r.face.score},
            {"native_px", std::round(r.native_px * 10) / 10}};
  if (r.status != FaceStatus::kOk) {
    f["status"] = "too_small";
    f["note"] = r.note;
    f["name"] = nullptr;
    return f;
  }
  const MatchResult m = decide(r, matcher, top_k, threshold);
  f["status"] = "ok";
  f["recovery"] = r.recovery;
  f["working_px"] = r.working_px == 0 ? json(nullptr) : json(r.working_px);
  f["threshold"] = threshold.value_or(r.threshold);
  f["name"] = m.name ? json(*m.name) : json(nullptr);
  f["similarity"] = m.similarity;
  json top = json::array();
  for (const auto& c : m.top) top.push_back({{"name", c.name}, {"similarity", c.similarity}});
  f["top"] = top;
  return f;
}

}  // namespace

int run_enroll(const GlobalOptions& g, const EnrollOptions& o) {
  validate_person_name(o.name);
  Context ctx(g);
  Pipeline pipeline = ctx.make_pipeline(0, "bicubic");
  std::vector<EnrollFace> faces;
  std::vector<std::string> skipped;
  for (const fs::path& file : expand_inputs(o.inputs)) {
    const cv::Mat image = load_image(file);
    const auto results = faces_of(pipeline, image, o.aligned);
    const FaceResult* best = largest_face(results);
    if (!best) {
      skipped.push_back(file.string() + " (no face found)");
      continue;
    }
    if (best->status != FaceStatus::kOk) {
      skipped.push_back(file.string() + " (" + best->note + ")");
      continue;
    }
    if (results.size() > 1) {
      spdlog::warn("{}: {} faces, enrolling the largest", file.string(), results.size());
    }
    faces.push_back({best->aligned, best->embedding, file.filename().string()});
  }
  for (const auto& s : skipped) std::cerr << "vlrface: skipped " << s << "\n";
  if (faces.empty()) throw Error("enroll", "no usable face in the given images; nothing enrolled");
  Gallery gallery = ctx.open_gallery(true);
  gallery.enroll(o.name, faces);
  std::cout << "enrolled " << faces.size() << " face" << (faces.size() == 1 ? "" : "s") << " for '"
            << o.name << "' in " << gallery.file().string() << "\n";
  return 0;
}

int run_identify(const GlobalOptions& g, const IdentifyOptions& o) {
  Context ctx(g);
  const int resolution = resolution_option(o.resolution);
  if (o.top_k < 1) throw Error("cli", "--top must be at least 1");
  Gallery gallery = ctx.open_gallery(false);
  Matcher matcher;  // row by row: a large gallery is not held twice while it is read
  matcher.reserve(gallery.size());
  gallery.for_each_template([&](PersonTemplate&& t) { matcher.add(t.name, t.embedding); });
  if (matcher.size() == 0) spdlog::warn("the gallery is empty: every face will be unknown");
  Pipeline pipeline = ctx.make_pipeline(resolution, o.upscaler, o.adapter, o.detect_upsample);
  const std::optional<float> threshold = threshold_override(o.threshold);

  json out = json::array();
  int failures = 0;
  for (const fs::path& file : expand_inputs(o.inputs)) {
    json item = {{"file", file.string()}};
    try {
      const cv::Mat image = load_image(file);
      json faces = json::array();
      for (const FaceResult& r : faces_of(pipeline, image, o.aligned)) {
        faces.push_back(face_json(r, matcher, o.top_k, threshold));
      }
      item["faces"] = faces;
    } catch (const Error& e) {
      item["error"] = e.what();
      ++failures;
    }
    out.push_back(item);
    if (!o.json) {
      if (item.contains("error")) {
        std::cerr << "vlrface: " << item["error"].get<std::string>() << "\n";
      } else if (item["faces"].empty()) {
        std::cout << file.string() << ": no face\n";
      } else {
        for (const auto& f : item["faces"]) {
          std::cout << file.string() << ": ";
          if (f["status"] != "ok") {
            std::cout << "face too small (" << f["note"].get<std::string>() << ")\n";
          } else {
            std::cout << (f["name"].is_null() ? "unknown" : f["name"].get<std::string>())
                      << " (similarity " << f["similarity"].get<float>() << ", "
                      << f["native_px"].get<float>() << " px face, " << f["recovery"].get<std::string>()
                      << ")\n";
          }
        }
      }
    }
  }
  if (o.json) std::cout << out.dump(2) << "\n";
  return failures == 0 ? 0 : 1;
}

int run_verify(const GlobalOptions& g, const VerifyOptions& o) {
  Context ctx(g);
  const int resolution = resolution_option(o.resolution);
  Pipeline pipeline = ctx.make_pipeline(resolution, o.upscaler, o.adapter, o.detect_upsample);
  std::vector<FaceResult> faces;
  for (const std::string& f : {o.first, o.second}) {
    auto found = pipeline.process(load_image(f));
    const FaceResult* best = largest_face(found);
    if (!best) throw Error("verify", f + ": no face found");
    if (best->status != FaceStatus::kOk) throw Error("verify", f + ": " + best->note);
    faces.push_back(*best);
  }
  const float sim = cosine(faces[0].embedding, faces[1].embedding);
  // Thresholds are calibrated on pairs of a full-resolution face and a small one: with one
  // face at full resolution, the small face's; with two small ones, the stricter.
  const float pair_threshold = faces[0].recovery == "base"   ? faces[1].threshold
                               : faces[1].recovery == "base" ? faces[0].threshold
                                                             : std::max(faces[0].threshold,
                                                                        faces[1].threshold);
  const float t = threshold_override(o.threshold).value_or(pair_threshold);
  const bool same = sim > t;
  if (o.json) {
    std::cout << json{{"similarity", sim}, {"threshold", t}, {"same_person", same}}.dump(2) << "\n";
  } else {
    std::cout << (same ? "same person" : "different people") << " (similarity " << sim
              << ", threshold " << t << ")\n";
  }
  return 0;
}

}  // namespace vlrface::cli
