// A folder of images played as frames, in natural order ("frame2" before "frame10").
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <system_error>
#include <vector>

#include "child_process.hpp"
#include "source_detail.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface::live::detail {
namespace fs = std::filesystem;
namespace {

bool is_image_file(const fs::path& p) {
  static const char* kExt[] = {".jpg", ".jpeg", ".png", ".bmp", ".pgm",
                               ".ppm", ".pnm",  ".tga", ".gif"};
  const std::string e = lower(p.extension().string());
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* x) { return e == x; });
}

// "frame2" before "frame10": runs of digits compare by value.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i]));
    const bool db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      std::size_t iz = i, jz = j;
      while (iz + 1 < ie && a[iz] == '0') ++iz;
      while (jz + 1 < je && b[jz] == '0') ++jz;
      const std::string na = a.substr(iz, ie - iz), nb = b.substr(jz, je - jz);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return a.size() - i < b.size() - j;
  return a < b;
}

class ImageFolderSource final : public FrameSource {
 public:
  explicit ImageFolderSource(SourceSpec spec) : spec_(std::move(spec)), name_(spec_.describe()) {
    std::error_code ec;
    if (!fs::is_directory(spec_.location, ec)) {
      throw Error("live", "image folder '" + spec_.location + "' does not exist");
    }
    list();
    if (files_.empty()) {
      throw Error("live", "image folder '" + spec_.location +
                              "' holds no image (.jpg, .png, .bmp, .pgm, .ppm, .tga, .gif)");
    }
  }

  bool read(cv::Mat& frame) override {
    if (done_) return false;
    std::string last_error;
    // Unreadable files are skipped (a folder being filled may hold a half-written one); a whole
    // pass without a readable image is an error.
    for (std::size_t failures = 0;;) {
      if (index_ >= files_.size()) {
        if (!spec_.loop) return finish({});
        list();  // picks up images added or removed meanwhile
        index_ = 0;
        if (files_.empty()) return finish("no image left in the folder");
      }
      if (spec_.fps > 0 && !irq_.sleep_until(due_)) return finish({});
      if (irq_.triggered()) return finish({});
      const fs::path file = files_[index_++];
      try {
        cv::Mat img = load_image(file);
        const cv::Size s = fit(img.size(), spec_.max_side);
        if (s != img.size()) cv::resize(img, img, s, 0, 0, cv::INTER_AREA);
        frame = std::move(img);
        advance_due();
        return true;
      } catch (const std::exception& e) {
        last_error = e.what();
      }
      if (++failures >= std::max<std::size_t>(files_.size(), 1)) return finish(last_error);
    }
  }

  std::string error() const override { return error_; }
  void interrupt() override { irq_.trigger(); }

 private:
  void list() {
    files_.clear();
    std::error_code ec;
    for (fs::directory_iterator it(spec_.location, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code fe;
      if (it->is_regular_file(fe) && is_image_file(it->path())) files_.push_back(it->path());
    }
    std::sort(files_.begin(), files_.end(), [](const fs::path& a, const fs::path& b) {
      return natural_less(a.filename().string(), b.filename().string());
    });
  }

  void advance_due() {
    if (spec_.fps <= 0) return;
    const auto period =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / spec_.fps));
    const auto now = Clock::now();
    // A fixed schedule keeps the average rate exact; after a long hiccup it restarts from now
    // rather than bursting to catch up.
    due_ = (due_ + period < now - period) ? now + period : due_ + period;
  }

  bool finish(std::string why) {
    done_ = true;
    error_ = why.empty() ? "" : name_ + ": " + why;
    return false;
  }

  SourceSpec spec_;
  std::string name_;
  Interrupter irq_;
  std::vector<fs::path> files_;
  std::size_t index_ = 0;
  Clock::time_point due_ = Clock::now();
  bool done_ = false;
  std::string error_;
};

}  // namespace

std::unique_ptr<FrameSource> make_image_folder_source(SourceSpec spec) {
  return std::make_unique<ImageFolderSource>(std::move(spec));
}

}  // namespace vlrface::live::detail
