// gallery list | remove | rename | export | import | copy | reembed | check | backup.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/progress.hpp"
#include <optional>

namespace vlrface::cli {

namespace {

// Scripts can tell "damaged" from "could not be checked" (1, like every other error).
constexpr int kDamagedStatus = 2;

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

int run_gallery_list(const GlobalOptions& g, bool json) {
  Context ctx(g);
  Gallery gallery = ctx.open_gallery(false, GalleryOpen::kAllowModelMismatch);
  const auto people = gallery.people();
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : people) out.push_back({{"name", p.name}, {"faces", p.num_faces}});
    std::cout << nlohmann::json{{"gallery", gallery.file().string()},
                                {"model_id", gallery.model_id()},
                                {"people", out}}
                     .dump(2)
              << "\n";
    return 0;
  }
  std::cout << gallery.file().string() << ": " << people.size() << " people (model "
            << gallery.model_id() << ")\n";
  for (const auto& p : people) std::cout << "  " << p.name << "\t" << p.num_faces << " faces\n";
  return 0;
}

int run_gallery_remove(const GlobalOptions& g, const std::string& name) {
  Context ctx(g);
  ctx.open_gallery(false, GalleryOpen::kAllowModelMismatch).remove_person(name);
  std::cout << "removed '" << name << "'\n";
  return 0;
}

int run_gallery_rename(const GlobalOptions& g, const std::string& from, const std::string& to) {
  Context ctx(g);
  ctx.open_gallery(false, GalleryOpen::kAllowModelMismatch).rename_person(from, to);
  std::cout << "renamed '" << from << "' to '" << to << "'\n";
  return 0;
}

int run_gallery_export(const GlobalOptions& g, const std::string& out) {
  Context ctx(g);
  Gallery gallery = ctx.open_gallery(false, GalleryOpen::kAllowModelMismatch);
  if (out == "-") {
    // The document is the output: the summary goes to stderr, where it cannot corrupt it.
    gallery.export_json(std::cout);
    std::cerr << "exported " << gallery.size() << " people to standard output\n";
    return 0;
  }
  gallery.export_json(out);
  std::cout << "exported " << gallery.size() << " people to " << out << "\n";
  return 0;
}

int run_gallery_import(const GlobalOptions& g, const std::string& file) {
  Context ctx(g);
  const bool from_stdin = file == "-";
  std::ifstream in_file;
  if (!from_stdin) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) throw Error("gallery", file + ": no such file");
    in_file.open(file, std::ios::binary);
    if (!in_file) throw Error("gallery", file + ": cannot be opened for reading");
  }
  const std::string name = from_stdin ? std::string("standard input") : file;
  // The reference app's image paths are relative to its gallery.json (to the current folder
  // when it comes on stdin).
  const std::filesystem::path image_dir =
      from_stdin ? std::filesystem::path(".") : std::filesystem::path(file).parent_path();
  // An export carries its embeddings and needs no model; only the reference format loads one.
  std::optional<Embedder> embedder;
  Gallery gallery = ctx.open_gallery(true, GalleryOpen::kAllowModelMismatch);
  const GalleryImport r = gallery.import_json(
      from_stdin ? std::cin : in_file, name, image_dir, [&]() -> FaceEmbedder {
        embedder.emplace(ctx.embedder_info());
        return [&](const cv::Mat& face) { return embedder->embed(face); };
      });
  std::cout << "imported " << r.people << " people (" << r.faces_added << " faces) from " << name;
  if (r.reference) {
    std::cout << " (re-embedded with " << r.model_id << ")\n";
    return 0;
  }
  std::cout << " (model " << r.model_id << ")\n";
  if (r.faces_skipped > 0) {
    std::cout << r.faces_skipped << " faces were already in the gallery and were skipped\n";
  }
  return 0;
}

int run_gallery_copy(const GlobalOptions& g, const std::string& from, const std::string& to) {
  (void)g;
  const int n = copy_gallery(from, to);
  // Opened again to say where it went: file() never shows a database password.
  Gallery target(to, "(copy)", GallerySettings{false, 95}, GalleryOpen::kAllowModelMismatch);
  Gallery source(from, "(copy)", GallerySettings{false, 95}, GalleryOpen::kAllowModelMismatch);
  std::cout << "copied " << n << " people from " << source.file().string() << " to "
            << target.file().string() << " (model " << target.model_id() << ")\n";
  return 0;
}

int run_gallery_check(const GlobalOptions& g, bool json) {
  Context ctx(g);
  const std::filesystem::path path = ctx.gallery_path();
  // check_gallery opens the file read-only, without the checks that make a damaged gallery
  // refuse to open: it is what such a refusal points to.
  const GalleryCheck r = check_gallery(path);
  if (json) {
    std::cout << nlohmann::json{{"gallery", path.string()},
                                {"clean", r.clean()},
                                {"schema_version", r.schema_version},
                                {"model_id", r.model_id},
                                {"people", r.people_total},
                                {"problems", r.problems},
                                {"readable", r.readable},
                                {"damaged", r.damaged}}
                     .dump(2)
              << "\n";
    return r.clean() ? 0 : kDamagedStatus;
  }
  const std::string about =
      " (schema " + std::to_string(r.schema_version) + ", model " + r.model_id + ")";
  if (r.clean()) {
    std::cout << path.string() << ": ok" << about << ": " << r.people_total
              << " people, structure and every row's checksum verified\n";
    return 0;
  }
  std::cout << path.string() << ": DAMAGED" << about << "\n";
  for (const auto& p : r.problems) std::cout << "  " << p << "\n";
  std::cout << r.readable.size() << " of " << r.people_total
            << " people readable (their data can be recovered)"
            << (r.readable.empty() ? "" : ": " + joined(r.readable)) << "\n";
  if (!r.damaged.empty()) std::cout << "damaged: " << joined(r.damaged) << "\n";
  std::cout << "Restore a backup (vlrface gallery backup FILE makes one), or enrol the damaged "
               "people again in a new gallery.\n";
  return kDamagedStatus;
}

int run_gallery_backup(const GlobalOptions& g, const std::string& out) {
  Context ctx(g);
  Gallery gallery = ctx.open_gallery(false, GalleryOpen::kAllowModelMismatch);
  gallery.backup(out);
  std::cout << "backed up " << gallery.size() << " people to " << out << " (checked)\n";
  return 0;
}

int run_gallery_reembed(const GlobalOptions& g) {
  Context ctx(g);
  Embedder embedder(ctx.embedder_info());
  Gallery gallery = ctx.open_gallery(false, GalleryOpen::kAllowModelMismatch);
  const std::string old_id = gallery.model_id();
  // Every stored face goes through the network again: seconds per hundred faces on a Pi.
  std::size_t total = 0, done = 0;
  for (const auto& p : gallery.people()) total += static_cast<std::size_t>(p.num_faces);
  std::optional<Progress> progress;
  if (!g.quiet) progress.emplace(std::cerr, stderr_is_terminal(), "reembed", total);
  gallery.reembed(
      [&](const cv::Mat& face) {
        auto e = embedder.embed(face);
        if (progress) progress->update(++done);
        return e;
      },
      embedder.model_id());
  if (progress) progress->finish();
  std::cout << "re-embedded " << gallery.size() << " people: " << old_id << " -> "
            << embedder.model_id() << "\n";
  return 0;
}

}  // namespace vlrface::cli
