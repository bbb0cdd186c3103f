// Gallery routes (people, their faces, captures from the camera) and one-off identification.
#include <algorithm>

#include "serve_routes.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/match.hpp"

namespace vlrface::serve {
namespace {

constexpr int kMaxCapture = 100;

void check_name(const std::string& name) {
  try {
    validate_person_name(name);
  } catch (const Error& e) {
    throw HttpError(400, std::string("invalid name: ") + e.what());
  }
}

// The largest face of each upload, detected and embedded at full resolution; 422 if none.
std::vector<EnrollFace> faces_from_uploads(const Req& req, ServeState& state, json& skipped) {
  std::vector<EnrollFace> faces;
  for (const Upload& up : uploads(req)) {
    const cv::Mat image = state.decode(up);
    state.with_pipeline(0, [&](RequestModels& m) {
      const auto results = m.process(image);
      const FaceResult* best = largest_face(results);
      if (!best) {
        skipped.push_back({{"file", up.filename}, {"reason", "no face found"}});
      } else if (best->status != FaceStatus::kOk) {
        skipped.push_back({{"file", up.filename}, {"reason", best->note}});
      } else {
        faces.push_back({best->aligned, best->embedding, up.filename});
      }
    });
  }
  if (faces.empty()) {
    std::string why;
    for (const auto& s : skipped) {
      why += (why.empty() ? "" : "; ") + s["file"].get<std::string>() + ": " +
             s["reason"].get<std::string>();
    }
    throw HttpError(422, "no usable face in the uploaded images (" + why + ")");
  }
  return faces;
}

// The person's name from a multipart field or a JSON body.
std::string name_field(const Req& req, const json& body) {
  if (req.is_multipart_form_data()) {
    const auto it = req.files.find("name");
    if (it == req.files.end()) throw HttpError(400, "missing form field 'name'");
    return it->second.content;
  }
  if (!body.contains("name") || !body["name"].is_string()) {
    throw HttpError(400, "missing string field 'name'");
  }
  return body["name"].get<std::string>();
}

int capture_count(const json& body) {
  const json& c = body["capture"];
  if (!c.is_number_integer() || c.get<int>() < 1 || c.get<int>() > kMaxCapture) {
    throw HttpError(400, "'capture' must be an integer in 1.." + std::to_string(kMaxCapture));
  }
  return c.get<int>();
}

// Adds faces to `name` (a new person when `create`): uploads, or a capture from the camera.
void add_faces(const Req& req, const json& body, Res& res, ServeState& state,
               const std::string& name, bool create) {
  if (!req.is_multipart_form_data()) {
    if (!body.contains("capture")) {
      throw HttpError(400, "send images as multipart/form-data, or {\"capture\": N} as JSON");
    }
    const auto job = state.captures().start(name, capture_count(body), create);
    res.set_header("Location", "/api/capture/" + job->id);
    send_json(res, state.captures().json_of(job->id), 202);
    return;
  }
  json skipped = json::array();
  const std::vector<EnrollFace> faces = faces_from_uploads(req, state, skipped);
  Gallery g = state.open_gallery();
  if (create && g.has_person(name)) throw HttpError(409, "'" + name + "' is already enrolled");
  if (!create && !g.has_person(name)) throw HttpError(404, "no person named '" + name + "'");
  g.enroll(name, faces);
  state.gallery_changed();
  int total = 0;
  for (const auto& p : g.people()) {
    if (p.name == name) total = p.num_faces;
  }
  send_json(res,
            {{"name", name},
             {"enrolled", faces.size()},
             {"faces", total},
             {"skipped", skipped},
             {"thumbnail_url", face_image_url(name, 0)}},
            create ? 201 : 200);
}

void create_person(const Req& req, Res& res, ServeState& state) {
  const json body = req.is_multipart_form_data() ? json::object() : json_body(req);
  const std::string name = name_field(req, body);
  check_name(name);
  if (state.open_gallery().has_person(name)) {
    throw HttpError(409, "'" + name + "' is already enrolled; add faces with POST /api/people/" +
                             url_segment(name) + "/faces");
  }
  add_faces(req, body, res, state, name, true);
}

void rename_person(const Req& req, Res& res, ServeState& state, const std::string& from) {
  const json body = json_body(req);
  if (!body.contains("name") || !body["name"].is_string()) {
    throw HttpError(400, "missing string field 'name' (the new name)");
  }
  const std::string to = body["name"].get<std::string>();
  check_name(to);
  Gallery g = state.open_gallery();
  if (!g.has_person(from)) throw HttpError(404, "no person named '" + from + "'");
  if (to != from) {
    if (g.has_person(to)) throw HttpError(409, "the name '" + to + "' is taken");
    g.rename_person(from, to);
    state.gallery_changed();
    // Without a live engine (a failed model reload) there is no verification to follow.
    if (const auto eng = state.engine()) {
      live::LiveSettings s = eng->settings();
      if (s.verify_name == from) {
        s.verify_name = to;
        eng->update_settings(s);
      }
    }
  }
  send_json(res, {{"name", to}, {"previous", from}, {"thumbnail_url", face_image_url(to, 0)}});
}

void remove_person(Res& res, ServeState& state, const std::string& name) {
  Gallery g = state.open_gallery();
  if (!g.has_person(name)) throw HttpError(404, "no person named '" + name + "'");
  g.remove_person(name);
  state.gallery_changed();
  if (const auto eng = state.engine()) {
    live::LiveSettings s = eng->settings();
    if (s.task == "verify" && s.verify_name == name) {  // nobody left to verify against
      s.task = "identify";
      s.verify_name.clear();
      eng->update_settings(s);
    }
  }
  send_json(res, {{"removed", name}});
}

void list_people(const Req& req, Res& res, ServeState& state) {
  Gallery g = state.open_gallery();
  const auto people = g.people();
  std::string q = req.get_param_value("q");
  std::transform(q.begin(), q.end(), q.begin(), ::tolower);
  const int offset = int_param(req, "offset", 0, 0, 1 << 30);
  const int limit = int_param(req, "limit", 1 << 30, 1, 1 << 30);
  json out = json::array();
  int matched = 0;
  for (const auto& p : people) {
    std::string lower = p.name;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (!q.empty() && lower.find(q) == std::string::npos) continue;
    if (matched++ < offset || static_cast<int>(out.size()) >= limit) continue;
    out.push_back(
        {{"name", p.name}, {"faces", p.num_faces}, {"thumbnail_url", face_image_url(p.name, 0)}});
  }
  send_json(res, {{"people", out}, {"total", matched}, {"model_id", g.model_id()}});
}

void stored_face(Res& res, ServeState& state, const std::string& name, const std::string& index) {
  Gallery g = state.open_gallery();
  if (!g.has_person(name)) throw HttpError(404, "no person named '" + name + "'");
  const auto faces = g.faces(name);
  const std::size_t i = std::stoul(index);
  if (i >= faces.size()) {
    throw HttpError(404, "'" + name + "' has " + std::to_string(faces.size()) + " faces");
  }
  const auto jpeg = encode_jpeg(faces[i].aligned, 90);
  res.set_header("Cache-Control", "no-cache");
  res.set_content(std::string(jpeg.begin(), jpeg.end()), "image/jpeg");
}

// `scale`: how much the image was shrunk after decoding; boxes are given in the upload's pixels.
// `threshold`: the live setting's override, else each face's calibrated one.
json face_json(const FaceResult& r, const Matcher& matcher, const MatchOptions& mo,
               std::optional<float> threshold, double scale) {
  const cv::Rect2f& b = r.face.box;
  const float k = static_cast<float>(1 / scale);
  json f = {{"box", box_json(cv::Rect2f(b.x * k, b.y * k, b.width * k, b.height * k))},
            {"score", sim4(r.face.score)}};
  if (r.status != FaceStatus::kOk) {
    f["status"] = "too_small";
    f["note"] = r.note;
    f["name"] = nullptr;
    return f;
  }
  const MatchResult m = decide(r, matcher, mo.top_k, threshold);
  f["status"] = "ok";
  f["native_px"] = std::round(r.native_px * 10) / 10;
  f["recovery"] = r.recovery;
  f["working_px"] = r.working_px == 0 ? json(nullptr) : json(r.working_px);
  f["threshold"] = sim4(threshold.value_or(r.threshold));
  f["name"] = m.name ? json(*m.name) : json(nullptr);
  f["similarity"] = sim4(m.similarity);
  json top = json::array();
  for (const auto& c : m.top) top.push_back({{"name", c.name}, {"similarity", sim4(c.similarity)}});
  f["top"] = top;
  return f;
}

// The shape of `vlrface identify --json`: one item per uploaded file.
void identify(const Req& req, Res& res, ServeState& state) {
  live::LiveSettings s;
  // The engine's matcher: the gallery is not read into memory a second time. A reload of the
  // gallery during the request swaps the engine's; this one stays valid.
  std::shared_ptr<const Matcher> matcher;
  {
    // Not held for the whole request: a model reload frees the old engine before loading anew.
    const auto eng = state.live();
    s = eng->settings();
    matcher = eng->matcher();
  }
  int resolution = s.mode == "native" ? kResolutionAuto : s.resolution;
  if (req.has_param("res")) {
    try {
      resolution = parse_resolution(req.get_param_value("res"));
    } catch (const Error& e) {
      throw HttpError(400, "res must be auto, full or a size from 4 to 111 (e.g. 16)");
    }
  }
  MatchOptions mo;
  mo.top_k = int_param(req, "top", 5, 1, 50);
  const std::optional<float> threshold =
      s.threshold < -1 ? std::nullopt : std::optional<float>(s.threshold);
  const std::vector<Upload> ups = uploads(req);
  json out = json::array();
  for (const Upload& up : ups) {
    double scale = 1;
    const cv::Mat image = state.decode(up, &scale);
    json faces = json::array();
    state.with_pipeline(resolution, [&](RequestModels& m) {
      for (const FaceResult& r : m.process(image)) {
        faces.push_back(face_json(r, *matcher, mo, threshold, scale));
      }
    });
    out.push_back({{"file", up.filename}, {"faces", faces}});
  }
  send_json(res, out);
}

}  // namespace

std::string face_image_url(const std::string& person, int index) {
  return "/api/people/" + url_segment(person) + "/faces/" + std::to_string(index) + ".jpg";
}

void add_people_routes(Router& r, ServeState& state) {
  r.add("GET", "/api/people",
        [&](const Req& req, Res& res, const Params&) { list_people(req, res, state); });
  r.add("POST", "/api/people",
        [&](const Req& req, Res& res, const Params&) { create_person(req, res, state); });
  r.add("GET", "/api/people/([^/]+)", [&](const Req&, Res& res, const Params& p) {
    Gallery g = state.open_gallery();
    for (const auto& person : g.people()) {
      if (person.name != p[0]) continue;
      json urls = json::array();
      for (int i = 0; i < person.num_faces; ++i) urls.push_back(face_image_url(person.name, i));
      send_json(res, {{"name", person.name}, {"faces", person.num_faces}, {"face_urls", urls}});
      return;
    }
    throw HttpError(404, "no person named '" + p[0] + "'");
  });
  r.add("PATCH", "/api/people/([^/]+)",
        [&](const Req& req, Res& res, const Params& p) { rename_person(req, res, state, p[0]); });
  r.add("DELETE", "/api/people/([^/]+)",
        [&](const Req&, Res& res, const Params& p) { remove_person(res, state, p[0]); });
  r.add("POST", "/api/people/([^/]+)/faces", [&](const Req& req, Res& res, const Params& p) {
    if (!state.open_gallery().has_person(p[0])) {
      throw HttpError(404, "no person named '" + p[0] + "'");
    }
    add_faces(req, req.is_multipart_form_data() ? json::object() : json_body(req), res, state, p[0],
              false);
  });
  r.add("GET", R"(/api/people/([^/]+)/faces/(\d{1,6})\.jpg)",
        [&](const Req&, Res& res, const Params& p) { stored_face(res, state, p[0], p[1]); });
  r.add("GET", "/api/capture/([0-9a-f]+)", [&](const Req&, Res& res, const Params& p) {
    const json j = state.captures().json_of(p[0]);
    if (j.is_null()) throw HttpError(404, "no capture " + p[0]);
    send_json(res, j);
  });
  r.add("POST", "/api/identify",
        [&](const Req& req, Res& res, const Params&) { identify(req, res, state); });
}

}  // namespace vlrface::serve
