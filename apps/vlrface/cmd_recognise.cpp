// enroll, identify and verify.
#include <spdlog/spdlog.h>

#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <variant>

#include "commands.hpp"
#include "vlrface/align.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/match.hpp"
#include "vlrface/progress.hpp"

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

// One person to enrol: a name and the files given for them.
struct EnrolPlan {
  std::string name;
  std::vector<fs::path> files;
};

// The people of `enroll --from-folders DIR`: one per sub-folder, named after it. Bad names and
// folders without images are reported together, before any work.
std::vector<EnrolPlan> plan_from_folders(const fs::path& dir, std::vector<std::string>& skipped) {
  if (!fs::is_directory(dir)) throw Error("cli", "--from-folders: " + dir.string() + ": not a folder");
  std::vector<fs::path> folders;
  std::size_t loose = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().starts_with(".")) continue;
    if (it->is_directory()) {
      folders.push_back(it->path());
    } else {
      ++loose;
    }
  }
  if (ec) throw Error("cli", "--from-folders: " + dir.string() + ": cannot be read (" + ec.message() + ")");
  if (folders.empty()) {
    throw Error("cli", "--from-folders: " + dir.string() +
                           " has no sub-folders (one per person: DIR/alice/1.jpg, DIR/bob/1.jpg)");
  }
  if (loose > 0) {
    spdlog::warn("--from-folders: {} file{} directly in {} ignored (only sub-folders are people)",
                 loose, loose == 1 ? "" : "s", dir.string());
  }
  std::sort(folders.begin(), folders.end());
  std::vector<EnrolPlan> plan;
  std::string bad;
  for (const fs::path& f : folders) {
    const std::string name = f.filename().string();
    try {
      validate_person_name(name);
    } catch (const Error& e) {
      bad += "\n  " + f.string() + ": " + e.what();
      continue;
    }
    try {
      plan.push_back({name, expand_inputs({f.string()})});
    } catch (const Error& e) {
      skipped.push_back(f.string() + ": " + e.what());  // a folder without images: no one to enrol
    }
  }
  if (!bad.empty()) throw Error("enroll", "folder names that cannot be person names:" + bad);
  return plan;
}

// The face to enrol from one image, or why there is none.
std::variant<EnrollFace, std::string> enrol_face(Pipeline& pipeline, const fs::path& file,
                                                 bool aligned) {
  cv::Mat image;
  try {
    image = load_image(file);
  } catch (const Error& e) {
    // "image: <file>: not an image ...": the file is already named in the skip line.
    const std::string what = e.what(), named = e.stage() + ": " + file.string() + ": ";
    return what.starts_with(named) ? what.substr(named.size()) : what;
  }
  if (aligned && (image.cols != kAlignedSize || image.rows != kAlignedSize)) {
    return "--aligned expects 112x112 faces, got " + std::to_string(image.cols) + "x" +
           std::to_string(image.rows);
  }
  const auto results = faces_of(pipeline, image, aligned);
  if (results.empty()) return std::string("no face found");
  // A photo with several faces does not say which one is the person: enrolling the largest
  // could file a stranger under this name.
  if (results.size() > 1) {
    return std::to_string(results.size()) + " faces: use a photo of this person alone (or a crop)";
  }
  const FaceResult& f = results.front();
  if (f.status != FaceStatus::kOk) return f.note;
  spdlog::info("{}: face {:.0f} px at ({:.0f},{:.0f}), detection score {:.2f}", file.string(),
               f.native_px, f.face.box.x, f.face.box.y, f.face.score);
  return EnrollFace{f.aligned, f.embedding, file.filename().string()};
}

}  // namespace

int run_enroll(const GlobalOptions& g, const EnrollOptions& o) {
  std::vector<std::string> skipped;  // "file: reason", printed as they happen
  std::vector<EnrolPlan> plan;
  if (!o.from_folders.empty()) {
    if (!o.name.empty() || !o.inputs.empty()) {
      throw Error("cli", "enroll --from-folders DIR takes no name or images (the sub-folders "
                         "name the people)");
    }
    plan = plan_from_folders(o.from_folders, skipped);
  } else {
    if (o.name.empty() || o.inputs.empty()) {
      throw Error("cli", "enroll needs a name and images (enroll NAME IMAGE...), or "
                         "--from-folders DIR");
    }
    validate_person_name(o.name);
    plan.push_back({o.name, {}});
  }
  Context ctx(g);
  // One rule with the API (409): an existing name is refused unless --add says to add faces.
  // Checked before any image is read, for every person at once.
  // A postgresql:// gallery is no file: it is opened (its schema made if new) to be asked.
  const bool database = is_database_gallery(ctx.gallery_path().native());
  if ((database || fs::exists(ctx.gallery_path())) && !o.add) {
    const Gallery existing = ctx.open_gallery(/*create=*/database);
    std::string taken;
    for (const auto& p : plan) {
      if (existing.has_person(p.name)) taken += (taken.empty() ? "'" : ", '") + p.name + "'";
    }
    if (!taken.empty()) {
      throw Error("enroll", taken + (taken.find(',') == std::string::npos ? " is" : " are") +
                                " already in the gallery: to add these faces to that person, "
                                "use --add; for a different person, choose another name");
    }
  }
  if (o.from_folders.empty()) plan.front().files = expand_inputs(o.inputs);
  for (const auto& s : skipped) std::cerr << "vlrface: skipped " << s << "\n";

  std::size_t total = 0;
  for (const auto& p : plan) total += p.files.size();
  Pipeline pipeline = ctx.make_pipeline(0, "bicubic");
  std::optional<Progress> progress;
  if (!g.quiet) progress.emplace(std::cerr, stderr_is_terminal(), "enroll", total);
  std::optional<Gallery> gallery;
  std::size_t done = 0, files_skipped = 0;
  int people = 0;
  std::ostringstream report;  // printed after the progress display is gone
  for (const auto& person : plan) {
    std::vector<EnrollFace> faces;
    for (const fs::path& file : person.files) {
      auto r = enrol_face(pipeline, file, o.aligned);
      if (auto* why = std::get_if<std::string>(&r)) {
        const std::string line = "vlrface: skipped " + file.string() + ": " + *why;
        if (progress) {
          progress->message(line);  // the bar, if any, is redrawn below it
        } else {
          std::cerr << line << "\n";
        }
        ++files_skipped;
      } else {
        faces.push_back(std::move(std::get<EnrollFace>(r)));
      }
      if (progress) progress->update(++done);
    }
    if (faces.empty()) {
      skipped.push_back(person.name + ": no usable face, not enrolled");
      if (plan.size() > 1) std::cerr << "vlrface: skipped " << skipped.back() << "\n";
      continue;
    }
    if (!gallery) gallery.emplace(ctx.open_gallery(true));
    if (!o.add && gallery->has_person(person.name)) {  // enrolled meanwhile (a running server)
      throw Error("enroll", "'" + person.name + "' was added to the gallery meanwhile: use --add");
    }
    gallery->enroll(person.name, faces);
    ++people;
    report << "enrolled " << faces.size() << " face" << (faces.size() == 1 ? "" : "s") << " for '"
           << person.name << "'\n";
  }
  progress.reset();
  std::cout << report.str();
  if (people == 0) throw Error("enroll", "no usable face in the given images; nothing enrolled");
  if (plan.size() > 1) {
    std::cout << "enrolled " << people << " of " << plan.size() << " people in "
              << gallery->file().string() << "\n";
  } else {
    std::cout << "gallery " << gallery->file().string() << "\n";
  }
  const std::size_t people_skipped = skipped.size();
  if (files_skipped + people_skipped == 0) return 0;
  std::cerr << "vlrface: enroll: " << files_skipped << " of " << total << " file"
            << (total == 1 ? "" : "s") << " skipped"
            << (people_skipped ? ", " + std::to_string(people_skipped) + " folder(s)/people not enrolled" : "")
            << " (see above); exit status " << kExitSomeSkipped << "\n";
  return kExitSomeSkipped;
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
  for (const fs::path& file : expand_inputs(o.inputs, true)) {
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
          // The box tells apart the faces of a group photo: "at x,y wxh" in image pixels.
          const auto& b = f["box"];
          std::cout << file.string() << ": face at " << std::lround(b["x"].get<double>()) << ","
                    << std::lround(b["y"].get<double>()) << " "
                    << std::lround(b["width"].get<double>()) << "x"
                    << std::lround(b["height"].get<double>()) << ": ";
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
