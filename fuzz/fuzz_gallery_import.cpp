// Gallery import (`vlrface gallery import`, Gallery::import_json): any bytes as the JSON document,
// into a new gallery each run. Both formats are reached: a `gallery export` (people, base64 JPEG
// faces, embeddings) and the reference app's gallery.json (image paths, relative to a folder
// holding two small images, embedded by a stand-in embedder). An import is all or nothing: after
// an Error the gallery must still be empty; after success it must hold what the result says.
#include <cmath>
#include <cstdint>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>

#include "fuzz_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"
#include "vlrface/image_io.hpp"

namespace {

using vlrface::fuzz::require;

// The folder reference-format image paths are relative to: a.png (112x112) and b.jpg (40x30).
const vlrface::fuzz::ScratchDir& scratch() {
  static const vlrface::fuzz::ScratchDir dir;
  return dir;
}

void write_file(const std::filesystem::path& file, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// Deterministic, never zero: the mean colour and size of the face, 8 values.
std::vector<float> stand_in_embedding(const cv::Mat& face) {
  const cv::Scalar m = cv::mean(face);
  return {1.0f,
          static_cast<float>(m[0]),
          static_cast<float>(m[1]),
          static_cast<float>(m[2]),
          static_cast<float>(face.cols),
          static_cast<float>(face.rows),
          0.5f,
          0.25f};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const auto& dir = scratch().path();
  std::filesystem::create_directories(dir / "images");
  cv::Mat a(112, 112, CV_8UC3, cv::Scalar(40, 90, 160));
  cv::Mat b(30, 40, CV_8UC3, cv::Scalar(200, 20, 60));
  write_file(dir / "images" / "a.png", vlrface::encode_png(a));
  write_file(dir / "images" / "b.jpg", vlrface::encode_jpeg(b));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = scratch().path() / "import.vlrg";
  std::error_code ec;
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
    std::filesystem::remove(file.string() + suffix, ec);
  }
  vlrface::Gallery g(file, "fuzz/0");
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  vlrface::GalleryImport result;
  bool ok = false;
  try {
    result = g.import_json(in, "fuzz.json", scratch().path() / "images",
                           [] { return vlrface::FaceEmbedder(stand_in_embedding); });
    ok = true;
  } catch (const vlrface::Error&) {
  }
  if (!ok) {
    require(g.size() == 0, "a failed import left " + std::to_string(g.size()) + " people");
    return 0;
  }
  const auto people = g.people();
  require(static_cast<int>(people.size()) == result.people_created,
          "import says it created " + std::to_string(result.people_created) +
              " people, gallery has " + std::to_string(people.size()));
  const int faces =
      std::accumulate(people.begin(), people.end(), 0,
                      [](int n, const vlrface::PersonInfo& p) { return n + p.num_faces; });
  require(faces == result.faces_added, "import's face count disagrees with the gallery's");
  for (const auto& t : g.templates()) {
    for (float v : t.embedding) require(std::isfinite(v), "a template holds a non-finite value");
  }
  return 0;
}
