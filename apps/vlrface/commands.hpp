// The vlrface subcommands. Each returns the process exit status; errors are thrown.
#pragma once

#include <string>
#include <vector>

#include "context.hpp"

namespace vlrface::cli {

// enroll's exit status when people were enrolled but some files (or people) were skipped.
inline constexpr int kExitSomeSkipped = 3;

struct EnrollOptions {
  std::string name;
  std::vector<std::string> inputs;
  std::string from_folders;  // non-empty: one person per sub-folder (name and inputs unused)
  bool add = false;          // add faces to an existing person; else an existing name is refused
  bool aligned = false;      // inputs are already aligned 112x112 faces
};

struct IdentifyOptions {
  std::vector<std::string> inputs;
  std::string resolution = "auto";
  std::string upscaler = "auto";  // auto: what the embedder's manifest recommends
  std::string adapter = "auto";   // auto, on, off
  double detect_upsample = 2;     // one-off images: enlarged 2x so faces ~16 px wide are found
  int top_k = 5;
  double threshold = -2;  // < -1: the embedding model's default
  bool json = false;
  bool aligned = false;
};

struct VerifyOptions {
  std::string first, second;
  std::string resolution = "auto";
  std::string upscaler = "auto";  // auto: what the embedder's manifest recommends
  std::string adapter = "auto";   // auto, on, off
  double detect_upsample = 2;
  double threshold = -2;
  bool json = false;
};

int run_enroll(const GlobalOptions& g, const EnrollOptions& o);
int run_identify(const GlobalOptions& g, const IdentifyOptions& o);
int run_verify(const GlobalOptions& g, const VerifyOptions& o);

int run_gallery_list(const GlobalOptions& g, bool json);
int run_gallery_remove(const GlobalOptions& g, const std::string& name);
int run_gallery_rename(const GlobalOptions& g, const std::string& from, const std::string& to);
int run_gallery_export(const GlobalOptions& g, const std::string& out);
// `file` is an export or the reference app's gallery.json; "-" reads standard input.
int run_gallery_import(const GlobalOptions& g, const std::string& file);
// FROM and TO are gallery files or postgresql:// URLs.
int run_gallery_copy(const GlobalOptions& g, const std::string& from, const std::string& to);
int run_gallery_reembed(const GlobalOptions& g);
// Exit status 0 when the gallery is clean, 2 when it is damaged (1: it could not be checked).
int run_gallery_check(const GlobalOptions& g, bool json);
int run_gallery_backup(const GlobalOptions& g, const std::string& out);

}  // namespace vlrface::cli
