// vlrface_embed_dump: writes the embeddings this machine computes as JSON, and compares two such
// files. scripts/arm64.sh runs it natively and under qemu-aarch64 and compares the two: OpenCV's
// NEON kernels must give the same embeddings as its x86 ones (cosine >= 0.9999 per face).
//   vlrface_embed_dump dump --models DIR [--orl DIR] [--limit N] --out FILE
//   vlrface_embed_dump compare A.json B.json [--min-cosine 0.9999]
// What is embedded: every face of the verification set (DIR/verify/<model>/*.png, written by
// set-up) by that model, and, with --orl, the first N ORL images through Pipeline (detection,
// alignment, recovery, embedding) in auto mode and in 16 px simulate mode (DSR + adapter), so
// that YuNet, the warps and DSR are covered too.
#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core/utility.hpp>
#include <string>
#include <vector>

#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/models.hpp"
#include "vlrface/pipeline.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Fewer entries than this means the inputs were not there: nothing was really compared.
constexpr std::size_t kMinEntries = 10;

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "vlrface_embed_dump: " << problem << "\n"
            << "usage: vlrface_embed_dump dump --models DIR [--orl DIR] [--limit N] --out FILE\n"
            << "       vlrface_embed_dump compare A.json B.json [--min-cosine C]\n";
  std::exit(2);
}

std::string machine() {
  utsname u{};
  return uname(&u) == 0 ? u.machine : "unknown";
}

std::vector<fs::path> sorted_files(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ext) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

int dump(const fs::path& models, const fs::path& orl, int limit, const fs::path& out_file) {
  // One thread: the same summation order on both machines is not promised by OpenCV anyway,
  // but one thread removes the thread count as a difference between the two runs.
  vlrface::set_inference_threads(1);
  vlrface::ModelStore store(models);
  json entries = json::object();
  const fs::path verify = models / "verify";
  if (!fs::is_directory(verify)) {
    throw vlrface::Error("dump", verify.string() + ": no verification set (set-up writes it "
                                                   "when VLRFACE_DATA holds orl)");
  }
  std::vector<fs::path> model_dirs;
  for (const auto& e : fs::directory_iterator(verify)) {
    if (e.is_directory() && store.has(e.path().filename().string())) model_dirs.push_back(e.path());
  }
  std::sort(model_dirs.begin(), model_dirs.end());
  for (const auto& dir : model_dirs) {
    const std::string name = dir.filename().string();
    vlrface::Embedder emb(store.get(name));
    int n = 0;
    for (const auto& png : sorted_files(dir, ".png")) {
      if (limit > 0 && n++ >= limit) break;
      entries["verify/" + name + "/" + png.filename().string()] =
          emb.embed(vlrface::load_image(png));
    }
  }
  if (!orl.empty()) {
    std::vector<fs::path> images;
    for (const auto& person : fs::directory_iterator(orl / "images")) {
      if (person.is_directory()) images.push_back(person.path() / "1.jpg");
    }
    std::sort(images.begin(), images.end());
    const std::size_t count = limit > 0 ? std::min<std::size_t>(limit, images.size()) : images.size();
    for (const int resolution : {vlrface::kResolutionAuto, 16}) {
      vlrface::PipelineConfig config;
      config.resolution = resolution;
      vlrface::Pipeline pipeline(store, config);
      for (std::size_t i = 0; i < count; ++i) {
        const auto faces = pipeline.process(vlrface::load_image(images[i]));
        const std::string key = "pipeline/" + vlrface::resolution_name(resolution) + "/" +
                                fs::relative(images[i], orl).string();
        entries[key + "/faces"] = faces.size();
        for (std::size_t f = 0; f < faces.size(); ++f) {
          if (faces[f].status == vlrface::FaceStatus::kOk) {
            entries[key + "#" + std::to_string(f)] = faces[f].embedding;
          }
        }
      }
    }
  }
  const json j = {{"machine", machine()}, {"opencv", cv::getVersionString()},
                  {"models", models.string()}, {"entries", entries}};
  std::ofstream out(out_file);
  out << j.dump() << "\n";
  if (!out) throw vlrface::Error("dump", out_file.string() + ": cannot be written");
  std::cout << "vlrface_embed_dump: " << entries.size() << " entries on " << machine() << " -> "
            << out_file.string() << "\n";
  return 0;
}

json read_json(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw vlrface::Error("compare", file.string() + ": cannot be read");
  return json::parse(in);
}

int compare(const fs::path& a_file, const fs::path& b_file, float min_cosine) {
  const json a = read_json(a_file), b = read_json(b_file);
  const json& ea = a.at("entries");
  const json& eb = b.at("entries");
  int failures = 0;
  std::size_t embeddings = 0;
  float worst = 1;
  std::string worst_key;
  for (const auto& [key, value] : ea.items()) {
    if (!eb.contains(key)) {
      std::cout << "missing in " << b_file.string() << ": " << key << "\n";
      ++failures;
      continue;
    }
    if (value.is_number()) {  // a face count: detection must find the same faces
      if (value != eb.at(key)) {
        std::cout << key << ": " << value << " vs " << eb.at(key) << "\n";
        ++failures;
      }
      continue;
    }
    const auto va = value.get<std::vector<float>>();
    const auto vb = eb.at(key).get<std::vector<float>>();
    if (va.size() != vb.size() || va.empty()) {
      std::cout << key << ": dimensions " << va.size() << " vs " << vb.size() << "\n";
      ++failures;
      continue;
    }
    const float c = vlrface::cosine(va, vb);
    ++embeddings;
    if (worst_key.empty() || c < worst) worst = c, worst_key = key;
    if (!(c >= min_cosine)) {
      std::cout << key << ": cosine " << c << " < " << min_cosine << "\n";
      ++failures;
    }
  }
  for (const auto& [key, value] : eb.items()) {
    if (!ea.contains(key)) {
      std::cout << "missing in " << a_file.string() << ": " << key << "\n";
      ++failures;
    }
  }
  std::printf("%s (%s) vs %s (%s): %zu embeddings, worst cosine %.7f (%s), %d problem(s)\n",
              a_file.string().c_str(), a.value("machine", "?").c_str(), b_file.string().c_str(),
              b.value("machine", "?").c_str(), embeddings, worst, worst_key.c_str(), failures);
  if (embeddings < kMinEntries) {
    std::printf("too few embeddings compared (%zu < %zu): the dumps hold nothing to check\n",
                embeddings, kMinEntries);
    return 1;
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) usage("no command");
  try {
    if (args[0] == "dump") {
      fs::path models, orl, out;
      int limit = 0;
      for (std::size_t i = 1; i < args.size(); ++i) {
        if (i + 1 >= args.size()) usage(args[i] + " needs a value");
        const std::string& v = args[++i];
        if (args[i - 1] == "--models") models = v;
        else if (args[i - 1] == "--orl") orl = v;
        else if (args[i - 1] == "--out") out = v;
        else if (args[i - 1] == "--limit") {
          std::size_t used = 0;
          try {
            limit = std::stoi(v, &used);
          } catch (const std::exception&) {
          }
          if (used != v.size() || v.empty()) usage("--limit must be a whole number, not '" + v + "'");
        }
        else usage("unknown option " + args[i - 1]);
      }
      if (models.empty() || out.empty()) usage("dump needs --models and --out");
      if (limit < 0) usage("--limit must be >= 0 (0: everything)");
      return dump(models, orl, limit, out);
    }
    if (args[0] == "compare") {
      if (args.size() != 3 && !(args.size() == 5 && args[3] == "--min-cosine")) {
        usage("compare needs two files (and optionally --min-cosine C)");
      }
      float min_cosine = 0.9999f;
      if (args.size() == 5) {
        std::size_t used = 0;
        try {
          min_cosine = std::stof(args[4], &used);
        } catch (const std::exception&) {
        }
        if (used != args[4].size()) usage("--min-cosine must be a number, not '" + args[4] + "'");
      }
      if (!(min_cosine > -1 && min_cosine <= 1)) usage("--min-cosine must be in (-1, 1]");
      return compare(args[1], args[2], min_cosine);
    }
    usage("unknown command " + args[0]);
  } catch (const std::exception& e) {
    std::cerr << "vlrface_embed_dump: " << e.what() << "\n";
    return 1;
  }
}
