#include "context.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>

#include "vlrface/detect.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"

namespace fs = std::filesystem;

namespace vlrface::cli {

fs::path default_gallery_path() {
  if (const char* g = std::getenv("VLRFACE_GALLERY"); g && *g) return g;
  fs::path base;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) {
    base = x;
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    base = fs::path(h) / ".local" / "share";
  } else {
    base = fs::current_path();
  }
  return base / "vlrface" / "gallery.vlrg";
}

Context::Context(const GlobalOptions& options)
    : options_(options),
      store_(resolve_model_dir(options.models.empty() ? std::nullopt
                                                      : std::optional<fs::path>(options.models))) {
  if (options.threads < 0) throw Error("cli", "--threads must be >= 0");
  set_inference_threads(options.threads);
}

const ModelInfo& Context::embedder_info() const { return store_.get(options_.embedder); }

fs::path Context::gallery_path() const {
  return options_.gallery.empty() ? default_gallery_path() : fs::path(options_.gallery);
}

Gallery Context::open_gallery(bool create, GalleryOpen mode) const {
  const fs::path path = gallery_path();
  // A postgresql:// gallery is no file: Gallery itself connects, creates and checks it.
  const bool database = is_database_gallery(path.native());
  if (!database && create && path.has_parent_path() && !fs::exists(path.parent_path())) {
    fs::create_directories(path.parent_path());
    // Biometric data: the folder we create is the owner's alone.
    ::chmod(path.parent_path().c_str(), 0700);
  }
  GallerySettings settings;
  settings.create_if_missing = create;
  if (!database && !create && !fs::exists(path)) {
    throw Error("gallery", path.string() + ": no such gallery (enroll someone first, or pass "
                                           "--gallery)");
  }
  // Listing and editing names need no embedding model: they open without the model check.
  const std::string model_id = mode == GalleryOpen::kAllowModelMismatch && !store_.has(options_.embedder)
                                   ? std::string("(no model)")
                                   : embedder_info().id;
  return Gallery(path, model_id, settings, mode);
}

void Context::warn_if_detector_fallback() const {
  if (fallback_warned_) return;
  fallback_warned_ = true;
  if (const std::string w = detector_fallback_warning(store_); !w.empty()) spdlog::warn("{}", w);
}

Pipeline Context::make_pipeline(int resolution, const std::string& upscaler,
                                const std::string& adapter, double detect_upsample) const {
  PipelineConfig config;
  config.detector.upsample = detect_upsample;
  config.embedder = options_.embedder;
  config.resolution = resolution;
  config.upscaler = upscaler;
  config.adapter = parse_adapter_choice(adapter);
  // Without an embedder the missing model is the one error to show, not this warning too.
  if (store_.has(config.embedder)) warn_if_detector_fallback();
  return Pipeline(store_, config);
}

namespace {

bool is_image_name(const fs::path& p) {
  static const std::vector<std::string> kExt = {".jpg", ".jpeg", ".png", ".bmp", ".pgm",
                                                ".ppm", ".pnm", ".tga", ".gif"};
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return std::find(kExt.begin(), kExt.end(), ext) != kExt.end();
}

// The images in `dir` (and below it when `recursive`), skipping hidden files and folders.
std::vector<fs::path> images_in(const fs::path& dir, bool recursive) {
  std::vector<fs::path> found;
  std::error_code ec;
  auto take = [&](const fs::directory_entry& e) {
    if (e.is_regular_file() && is_image_name(e.path())) found.push_back(e.path());
  };
  if (recursive) {
    fs::recursive_directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      if (it->path().filename().string().starts_with(".")) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      take(*it);
    }
  } else {
    fs::directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      if (!it->path().filename().string().starts_with(".")) take(*it);
    }
  }
  if (ec) throw Error("cli", dir.string() + ": cannot be read (" + ec.message() + ")");
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

std::vector<fs::path> expand_inputs(const std::vector<std::string>& args, bool recursive) {
  std::vector<fs::path> out;
  for (const auto& a : args) {
    const fs::path p(a);
    if (!fs::is_directory(p)) {
      out.push_back(p);  // missing files are reported when they are read
      continue;
    }
    const std::vector<fs::path> found = images_in(p, recursive);
    if (found.empty()) {
      if (!recursive && !images_in(p, true).empty()) {
        throw Error("cli", p.string() + ": directory holds no images, only sub-folders with "
                                        "images: to enrol one person per sub-folder, use "
                                        "enroll --from-folders " + p.string());
      }
      throw Error("cli", p.string() + ": directory holds no images");
    }
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

}  // namespace vlrface::cli
