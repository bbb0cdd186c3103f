// vlrface — command-line front end. Thin: parses arguments, calls the core, prints results.
#include <cmath>
#include <cstdlib>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <string>

#include "cmd_bench.hpp"
#include "cmd_eval.hpp"
#include "commands.hpp"
#include "cmd_serve.hpp"
#include "vlrface/error.hpp"
#include "vlrface/models.hpp"
#include "vlrface/version.hpp"

using namespace vlrface::cli;

namespace {

void add_resolution_options(CLI::App* cmd, std::string& res, std::string& upscaler,
                            std::string& adapter, double& upsample) {
  cmd->add_option("--detect-upsample", upsample,
                  "enlarge images by this factor before detection (within 1920 px): 2 finds "
                  "faces ~16 px wide, 1 only from ~24 px, at a quarter of the cost")
      ->check(CLI::Range(0.25, 4.0))
      ->capture_default_str();
  cmd->add_option("--res", res,
                  "auto: each face recovered from its own size (small faces through the "
                  "upscaler and the low-resolution student, large ones as they are); full: "
                  "every face at 112 px by the base model; 16, 24, 32 (any 4..111): simulate a "
                  "face of that size")
      ->capture_default_str();
  cmd->add_option("--upscaler", upscaler,
                  "how low-resolution faces return to 112x112: dsr, bicubic, or auto (the "
                  "combination measured best for the resolution)")
      ->check(CLI::IsMember({"auto", "bicubic", "dsr"}))
      ->capture_default_str();
  cmd->add_option("--adapter", adapter,
                  "embed low-resolution faces with the adapted EdgeFace (the low-resolution "
                  "student): on, off, auto")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
}

// The first word that is neither an option nor an option's value, when it names no command.
// CLI11 answers "vlrface frob" with "A subcommand is required", which hides the typo.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") return std::nullopt;
    if (a.rfind('-', 0) == 0) {
      const CLI::Option* o = app.get_option_no_throw(a.substr(0, a.find('=')));
      if (o != nullptr && o->get_items_expected_min() > 0 && a.find('=') == std::string::npos) ++i;
      continue;
    }
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->check_name(a)) return std::nullopt;
    }
    return a;
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vlrface — face recognition for very-low-resolution faces"};
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too ("vlrface identify x.jpg --gallery g"):
  // a subcommand hands the options it does not know to its parent. Inherited by every
  // subcommand added below, so "gallery list --gallery g" works as well.
  app.fallthrough();
  app.set_version_flag("--version", std::string("vlrface ") + vlrface::kVersion);
  GlobalOptions g;
  app.add_option("--gallery", g.gallery,
                 "gallery file (default: $VLRFACE_GALLERY, else " +
                     default_gallery_path().string() + ")");
  app.add_option("--models", g.models,
                 "model directory (default: $VLRFACE_MODELS, else " +
                     vlrface::resolve_model_dir(std::nullopt).string() + ")");
  app.add_option("--model", g.embedder, "embedding model")->capture_default_str();
  CLI::Option* threads_opt =
      app.add_option("--threads", g.threads,
                     "inference threads (0: all cores; default 1, for serve 2: detection of the "
                     "next frame then overlaps recognition of this one)");
  app.add_flag("-v,--verbose", g.verbose, "more detail on stderr (each file's outcome)");
  app.add_flag("-q,--quiet", g.quiet, "no progress display on stderr (errors still show)");
  app.footer("Global options may also follow the subcommand: vlrface identify x.jpg --gallery g");

  EnrollOptions enroll;
  auto* c_enroll = app.add_subcommand(
      "enroll", "add a person, with face images, to the gallery (or one person per sub-folder)");
  c_enroll->add_option("name", enroll.name, "the person's name (a new person unless --add)");
  c_enroll->add_option("images", enroll.inputs, "image files or folders of images");
  c_enroll->add_option("--from-folders", enroll.from_folders,
                       "enrol one person per sub-folder of DIR, named after the folder "
                       "(DIR/alice/*.jpg, DIR/bob/*.jpg)");
  c_enroll->add_flag("--add", enroll.add,
                     "add the faces to a person already in the gallery (without it, an "
                     "existing name is refused)");
  c_enroll->add_flag("--aligned", enroll.aligned, "images are already aligned 112x112 faces");
  c_enroll->footer(
      "Each file that cannot be used (unreadable, not an image, no face, several faces, face "
      "too small) is named on stderr with the reason, and the others are enrolled.\n"
      "Exit status: 0 every file enrolled; " + std::to_string(kExitSomeSkipped) +
      " enrolled, but some files (or people) were skipped; 1 nothing enrolled (an error).");

  // A cosine threshold: a finite number in [-1, 1] (CLI::Range lets NaN through).
  const CLI::Validator kCosine(
      [](std::string& v) -> std::string {
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (end == v.c_str() || *end != '\0' || !std::isfinite(x) || x < -1 || x > 1) {
          return "a threshold is a cosine similarity: a number from -1 to 1, not '" + v + "'";
        }
        return "";
      },
      "COSINE in [-1, 1]");
  IdentifyOptions ident;
  auto* c_ident = app.add_subcommand("identify", "name the faces in images");
  c_ident->add_option("images", ident.inputs,
                      "image files or folders of images (walked with their sub-folders)")
      ->required();
  add_resolution_options(c_ident, ident.resolution, ident.upscaler, ident.adapter,
                         ident.detect_upsample);
  c_ident->add_option("--top", ident.top_k, "candidates to list per face")->capture_default_str();
  c_ident->add_option("--threshold", ident.threshold,
                      "cosine at or below which a face is unknown (default: each face's, "
                      "calibrated for its size and recovery)")
      ->check(kCosine);
  c_ident->add_flag("--json", ident.json, "print JSON");
  c_ident->add_flag("--aligned", ident.aligned, "images are already aligned 112x112 faces");

  VerifyOptions verify;
  auto* c_verify = app.add_subcommand("verify", "are the largest faces of two images one person?");
  c_verify->add_option("first", verify.first, "first image")->required();
  c_verify->add_option("second", verify.second, "second image")->required();
  add_resolution_options(c_verify, verify.resolution, verify.upscaler, verify.adapter,
                         verify.detect_upsample);
  c_verify->add_option("--threshold", verify.threshold,
                       "cosine above which they match (default: calibrated for the faces' sizes)")
      ->check(kCosine);
  c_verify->add_flag("--json", verify.json, "print JSON");

  auto* c_gallery = app.add_subcommand("gallery", "inspect and edit the gallery");
  c_gallery->require_subcommand(1);
  bool list_json = false;
  auto* g_list = c_gallery->add_subcommand("list", "list enrolled people");
  g_list->add_flag("--json", list_json, "print JSON");
  std::string name, new_name, file;
  auto* g_remove = c_gallery->add_subcommand("remove", "remove a person and their faces");
  g_remove->add_option("name", name)->required();
  auto* g_rename = c_gallery->add_subcommand("rename", "rename a person");
  g_rename->add_option("name", name)->required();
  g_rename->add_option("new_name", new_name)->required();
  auto* g_export = c_gallery->add_subcommand("export", "write the gallery as JSON");
  g_export->add_option("file", file, "output JSON file (- for standard output)")->required();
  auto* g_import = c_gallery->add_subcommand(
      "import", "import what `gallery export` wrote (faces already present are skipped), or the "
                "reference app's gallery.json (re-embedded)");
  g_import->add_option("file", file, "the JSON file (- for standard input)")->required();
  std::string copy_to;
  auto* g_copy = c_gallery->add_subcommand(
      "copy", "copy a gallery into a new or empty one, between files and postgresql:// databases");
  g_copy->add_option("from", file, "the gallery to copy (file or postgresql://...)")->required();
  g_copy->add_option("to", copy_to, "where to (file or postgresql://...)")->required();
  auto* g_reembed = c_gallery->add_subcommand(
      "reembed", "recompute all embeddings with the current model from the stored faces");
  bool check_json = false;
  auto* g_check = c_gallery->add_subcommand(
      "check",
      "check for damage (SQLite's check and every row's checksum), listing who can be "
      "recovered; exit 0 clean, 2 damaged");
  g_check->add_flag("--json", check_json, "print JSON");
  auto* g_backup = c_gallery->add_subcommand(
      "backup", "copy the gallery, consistently even while it is in use, to a new file (0600)");
  g_backup->add_option("file", file, "the new backup file (must not exist)")->required();

  BenchOptions bench;
  auto* c_bench = add_bench_command(app, bench);
  vlrface::serve::ServeOptions serve_options;
  CLI::App* c_serve = add_serve_command(app, serve_options);
  EvalOptions eval_options;
  CLI::App* c_eval = add_eval_command(app, eval_options);

  if (const auto bad = unknown_command(app, argc, argv)) {
    std::string names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    std::cerr << "vlrface: unknown command '" << *bad << "' (commands: " << names
              << "; vlrface --help)\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto logger = spdlog::stderr_color_mt("vlrface");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("vlrface: %l: %v");
  spdlog::set_level(g.verbose ? spdlog::level::info : spdlog::level::warn);

  try {
    if (*c_enroll) return run_enroll(g, enroll);
    if (*c_ident) return run_identify(g, ident);
    if (*c_verify) return run_verify(g, verify);
    if (*g_list) return run_gallery_list(g, list_json);
    if (*g_remove) return run_gallery_remove(g, name);
    if (*g_rename) return run_gallery_rename(g, name, new_name);
    if (*g_export) return run_gallery_export(g, file);
    if (*g_import) return run_gallery_import(g, file);
    if (*g_copy) return run_gallery_copy(g, file, copy_to);
    if (*g_reembed) return run_gallery_reembed(g);
    if (*g_check) return run_gallery_check(g, check_json);
    if (*g_backup) return run_gallery_backup(g, file);
    if (*c_eval) return run_eval(g, eval_options);
    if (*c_bench) return run_bench(g, bench);
    if (*c_serve) {
      if (threads_opt->count() == 0) g.threads = 2;
      return run_serve(g, serve_options);
    }
  } catch (const vlrface::Error& e) {
    std::cerr << "vlrface: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "vlrface: unexpected error: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
