// The gallery as JSON (export, and import of what export writes), the reference app's
// gallery.json (re-embedded), and copies between galleries (SQLite <-> PostgreSQL).
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <ostream>
#include <set>
#include <sstream>
#include <utility>

#include "gallery_check.hpp"
#include "gallery_common.hpp"
#include "gallery_impl.hpp"
#include "gallery_json.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface {

namespace fs = std::filesystem;
using detail::printable;
using json = nlohmann::ordered_json;

namespace {

constexpr const char* kExportFormat = "vlrface-gallery-export";
constexpr int kExportVersion = 1;

json export_document(detail::GalleryStore& store) {
  json doc;
  doc["format"] = kExportFormat;
  doc["version"] = kExportVersion;
  doc["people"] = json::array();
  store.for_each_person([&](detail::PersonRecord&& p) {
    json person;
    person["name"] = p.name;
    person["template"] = p.template_embedding;
    person["faces"] = json::array();
    for (const auto& f : p.faces) {
      json face;
      face["source"] = f.source;
      face["embedding"] = f.embedding;
      face["image_jpeg_base64"] = gallery_json::base64_encode(f.jpeg);
      person["faces"].push_back(std::move(face));
    }
    doc["people"].push_back(std::move(person));
  });
  // After the snapshot: the model of the embeddings just read.
  doc["model_id"] = store.model_id();
  return doc;
}

std::string dump(const json& doc) {
  // Sources are file names, which need not be UTF-8; replacing bad bytes beats failing the export.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::vector<float> float_array(const nlohmann::json& v, const std::string& where) {
  if (!v.is_array()) throw Error("gallery", where + " is not an array of numbers");
  std::vector<float> out;
  out.reserve(v.size());
  for (const auto& x : v) {
    if (!x.is_number()) throw Error("gallery", where + " is not an array of numbers");
    out.push_back(x.get<float>());
  }
  return out;
}

// The people of a `gallery export` document, checked and ready to store.
std::vector<detail::NewPerson> read_export(const nlohmann::json& doc, const std::string& name) {
  const auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer() || *version != kExportVersion) {
    throw Error("gallery", name + ": export version " +
                               (version == doc.end() ? std::string("(none)") : version->dump()) +
                               " is not supported; this build reads version " +
                               std::to_string(kExportVersion));
  }
  const auto people = doc.find("people");
  if (people == doc.end() || !people->is_array()) {
    throw Error("gallery", name + ": has no \"people\" array");
  }
  std::vector<detail::NewPerson> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < people->size(); ++i) {
    const auto& p = (*people)[i];
    std::string where = name + ": people[" + std::to_string(i) + "]";
    if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) {
      throw Error("gallery", where + ": has no \"name\" string");
    }
    detail::NewPerson person;
    person.name = p["name"].get<std::string>();
    where += " ('" + printable(person.name) + "')";
    if (const auto problem = detail::person_name_problem(person.name)) {
      throw Error("gallery", where + ": " + *problem);
    }
    if (!names.insert(person.name).second) throw Error("gallery", where + ": appears twice");
    person.what = "importing " + where;
    const auto faces = p.find("faces");
    if (faces == p.end() || !faces->is_array()) {
      throw Error("gallery", where + ": has no \"faces\" array");
    }
    for (std::size_t j = 0; j < faces->size(); ++j) {
      const auto& f = (*faces)[j];
      const std::string at = where + ": faces[" + std::to_string(j) + "]";
      if (!f.is_object()) throw Error("gallery", at + ": is not an object");
      detail::NewFace face;
      if (const auto s = f.find("source"); s != f.end()) {
        if (!s->is_string()) throw Error("gallery", at + ": \"source\" is not a string");
        face.source = s->get<std::string>();
      }
      const auto e = f.find("embedding");
      if (e == f.end()) throw Error("gallery", at + ": has no \"embedding\"");
      face.embedding = float_array(*e, at + ": \"embedding\"");
      if (const auto problem = detail::embedding_problem(face.embedding)) {
        throw Error("gallery", at + ": " + *problem);
      }
      const auto img = f.find("image_jpeg_base64");
      if (img == f.end() || !img->is_string()) {
        throw Error("gallery", at + ": has no \"image_jpeg_base64\" string");
      }
      auto jpeg = gallery_json::base64_decode(img->get_ref<const std::string&>());
      if (!jpeg) throw Error("gallery", at + ": \"image_jpeg_base64\" is not base64");
      // Kept byte for byte (no re-encoding), once it is known to be a 112x112 colour face.
      const cv::Mat decoded = decode_image(reinterpret_cast<const std::uint8_t*>(jpeg->data()),
                                           jpeg->size(), at + ": image");
      const int size = detail::kGalleryFaceSize;
      if (decoded.rows != size || decoded.cols != size) {
        throw Error("gallery", at + ": the image is " + std::to_string(decoded.cols) + "x" +
                                   std::to_string(decoded.rows) + ", expected 112x112");
      }
      face.jpeg = std::move(*jpeg);
      person.faces.push_back(std::move(face));
    }
    out.push_back(std::move(person));
  }
  return out;
}

}  // namespace

void Gallery::export_json(const fs::path& out) const {
  const Impl& g = *impl_;
  gallery_json::require_replaceable(out);  // before the work, not only before the rename
  std::error_code ec;
  if (!is_database_gallery(file().native()) && fs::equivalent(out, file(), ec)) {
    g.fail("refusing to export over the gallery itself");
  }
  gallery_json::write_file_atomically(out, dump(export_document(*g.store)));
}

void Gallery::export_json(std::ostream& out) const {
  out << dump(export_document(*impl_->store));
  out.flush();
  if (!out) impl_->fail("the export could not be written");
}

GalleryImport Gallery::import_json(std::istream& in, const std::string& name,
                                   const fs::path& image_dir,
                                   const std::function<FaceEmbedder()>& make_embedder) {
  Impl& g = *impl_;
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error("gallery", name + ": is not valid JSON (" + e.what() + ")");
  }
  GalleryImport result;
  if (!doc.is_object() || !doc.contains("format")) {
    // No "format": the reference app's gallery.json, whose embeddings come from another model.
    const auto entries = gallery_json::read_reference(doc, name);
    const FaceEmbedder embed = make_embedder();  // first: it says when the model is missing
    g.require_own_model("import into");
    result = {};
    result.reference = true;
    result.model_id = g.build_model_id;
    std::vector<detail::NewPerson> people;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& [person, paths] = entries[i];
      const std::string where =
          name + ": people[" + std::to_string(i) + "] ('" + printable(person) + "')";
      if (const auto problem = detail::person_name_problem(person)) {
        throw Error("gallery", where + ": " + *problem);
      }
      if (paths.empty()) continue;  // nothing to enrol
      detail::NewPerson p{person, {}, "importing " + where};
      for (const std::string& rel : paths) {
        const std::string at = where + ": image '" + rel + "'";
        EnrollFace face;
        try {
          cv::Mat img = load_image(image_dir / rel);
          const int size = detail::kGalleryFaceSize;
          if (img.rows != size || img.cols != size) {
            const bool shrinking = img.rows >= size && img.cols >= size;
            cv::Mat resized;
            cv::resize(img, resized, cv::Size(size, size), 0, 0,
                       shrinking ? cv::INTER_AREA : cv::INTER_CUBIC);
            img = resized;
          }
          face.aligned = img;
          face.embedding = embed(img);
        } catch (const std::exception& e) {
          throw Error("gallery", at + ": " + e.what());
        }
        face.source = rel;
        p.faces.push_back(g.prepare(face, "importing " + at));
      }
      people.push_back(std::move(p));
    }
    const auto n = g.store->insert(people, {g.build_model_id, false, false});
    result.people = n.people_created + n.people_extended;
    result.people_created = n.people_created;
    result.faces_added = n.faces_added;
    return result;
  }
  const auto format = doc.find("format");
  if (!format->is_string() || *format != kExportFormat) {
    throw Error("gallery", name + ": format " + format->dump() + " is not a gallery export (\"" +
                               kExportFormat + "\")");
  }
  const auto model = doc.find("model_id");
  if (model == doc.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
    throw Error("gallery", name + ": has no \"model_id\"");
  }
  result.model_id = model->get<std::string>();
  const auto people = read_export(doc, name);
  // Said here with both models named; the store checks it again under its lock.
  if (result.model_id != g.store->model_id() && g.store->size() != 0) {
    g.fail("cannot import " + name + ": its embeddings come from model '" +
           printable(result.model_id) + "', this gallery's from '" +
           printable(g.store->model_id()) +
           "'; import it into a new gallery (--gallery NEW) and re-embed that one");
  }
  const auto n = g.store->insert(people, {result.model_id, true, true});
  result.people = n.people_created + n.people_extended;
  result.people_created = n.people_created;
  result.faces_added = n.faces_added;
  result.faces_skipped = n.faces_skipped;
  return result;
}

int Gallery::import_reference(const fs::path& gallery_json,
                              const std::function<std::vector<float>(const cv::Mat&)>& embed) {
  const std::string file = gallery_json.string();
  std::error_code ec;
  if (!fs::is_regular_file(gallery_json, ec)) throw Error("gallery", file + ": no such file");
  std::ifstream in(gallery_json, std::ios::binary);
  if (!in) throw Error("gallery", file + ": cannot be opened for reading");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error("gallery", file + ": is not valid JSON (" + e.what() + ")");
  }
  if (doc.is_object() && doc.contains("format")) {
    throw Error("gallery", file +
                               ": is a gallery export, not the reference app's gallery.json "
                               "(import_json reads both)");
  }
  std::istringstream again(doc.dump());
  const auto r = import_json(again, file, gallery_json.parent_path(), [&] { return embed; });
  return r.people;
}

namespace detail {

int copy_store(GalleryStore& from, const std::string& to) {
  const bool file_target = !is_postgres_url(to);
  std::error_code ec;
  const bool existed = file_target && fs::symlink_status(to, ec).type() != fs::file_type::not_found;
  try {
    GallerySettings settings;
    settings.create_if_missing = true;
    Gallery target(to, from.model_id(), settings, GalleryOpen::kAllowModelMismatch);
    if (target.size() != 0) {
      throw Error("gallery", target.file().string() + ": already has " +
                                 std::to_string(target.size()) +
                                 " people; copy only into a new or empty gallery");
    }
    std::vector<NewPerson> people;
    std::string model = from.model_id();
    from.for_each_person([&](PersonRecord&& p) {
      NewPerson n{p.name, {}, "copying '" + printable(p.name) + "'"};
      for (auto& f : p.faces)
        n.faces.push_back({std::move(f.jpeg), std::move(f.embedding), std::move(f.source)});
      people.push_back(std::move(n));
    });
    model = from.model_id();
    GalleryInternals::store(target).insert(people, {model, true, false});
    return static_cast<int>(people.size());
  } catch (...) {
    if (file_target && !existed) fs::remove(to, ec);  // only what this copy created
    throw;
  }
}

}  // namespace detail

int copy_gallery(const std::string& from, const std::string& to) {
  if (from == to) throw Error("gallery", "cannot copy a gallery onto itself");
  Gallery source(from, "(copy)", GallerySettings{false, 95}, GalleryOpen::kAllowModelMismatch);
  return detail::copy_store(GalleryInternals::store(source), to);
}

}  // namespace vlrface
