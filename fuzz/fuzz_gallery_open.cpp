// Gallery open: any bytes written as a gallery file, then checked (check_gallery, the full check
// of `vlrface gallery check`), opened (the cheap check every open makes) and read through every
// way the CLI and the server read it. A damaged gallery must be an Error naming the file, or be
// read back consistently; never a crash, a hang or an unbounded allocation. Seeds are real
// galleries (fuzz/make_seeds.cpp), so mutations land in SQLite pages and rows.
#include <cstdint>
#include <fstream>
#include <string>

#include "fuzz_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"

namespace {

using vlrface::fuzz::require;

const vlrface::fuzz::ScratchDir& scratch() {
  static const vlrface::fuzz::ScratchDir dir;
  return dir;
}

void read_everything(vlrface::Gallery& g) {
  const auto people = g.people();
  require(people.size() == g.size(), "people() and size() disagree");
  for (const auto& p : people) {
    const auto faces = g.faces(p.name);
    require(static_cast<int>(faces.size()) == p.num_faces,
            "faces('" + p.name + "') disagrees with people()'s count");
    for (const auto& f : faces) {
      require(f.aligned.empty() || f.aligned.type() == CV_8UC3, "a stored face is not BGR");
    }
  }
  g.for_each_template([](vlrface::PersonTemplate&&) {});
  (void)g.templates();
  (void)g.revision();
  (void)g.refresh_if_changed();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = scratch().path() / "g.vlrg";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const vlrface::GalleryCheck c = vlrface::check_gallery(file);
    require(c.readable.size() + c.damaged.size() <= c.people_total || !c.problems.empty(),
            "check_gallery counts more people than it listed");
  } catch (const vlrface::Error&) {
  }
  try {
    vlrface::GallerySettings settings;
    settings.create_if_missing = false;
    vlrface::Gallery g(file, "fuzz/0", settings, vlrface::GalleryOpen::kAllowModelMismatch);
    read_everything(g);
  } catch (const vlrface::Error&) {
  }
  std::error_code ec;
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
    std::filesystem::remove(file.string() + suffix, ec);
  }
  return 0;
}
