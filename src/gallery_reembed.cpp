// Re-embedding a gallery with another model from its stored face images, and backups.
#include <optional>
#include <utility>

#include "gallery_check.hpp"
#include "gallery_common.hpp"
#include "gallery_impl.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface {

namespace fs = std::filesystem;

void Gallery::reembed(const std::function<std::vector<float>(const cv::Mat&)>& embed,
                      const std::string& new_model_id) {
  Impl& g = *impl_;
  if (new_model_id.empty()) g.fail("cannot re-embed: the new model id is empty");
  // Embedded outside the write transaction (a model takes a while per face; other processes keep
  // working meanwhile); replace_embeddings() refuses the result if the faces changed since.
  std::vector<std::pair<std::int64_t, std::vector<float>>> by_id;
  std::optional<std::size_t> dims;
  g.store->for_each_person([&](detail::PersonRecord&& p) {
    for (auto& row : p.faces) {
      const std::string what = "face #" + std::to_string(row.id);
      cv::Mat img;
      try {
        img = decode_image(std::vector<std::uint8_t>(row.jpeg.begin(), row.jpeg.end()), what);
      } catch (const Error& e) {
        g.fail(std::string("is damaged (") + e.what() + ")");
      }
      std::vector<float> e;
      try {
        e = embed(img);
      } catch (const std::exception& ex) {
        g.fail("re-embedding " + what + ": " + ex.what());
      }
      if (const auto problem = detail::embedding_problem(e)) {
        g.fail("re-embedding " + what + ": " + *problem);
      }
      if (dims && e.size() != *dims) {
        g.fail("re-embedding " + what + ": the model returned " + std::to_string(e.size()) +
               " values, earlier faces got " + std::to_string(*dims));
      }
      dims = e.size();
      by_id.emplace_back(row.id, std::move(e));
    }
  });
  g.store->replace_embeddings(by_id, new_model_id);
}

void Gallery::backup(const fs::path& out) const {
  const Impl& g = *impl_;
  if (detail::sqlite_backup(*g.store, out)) return;
  // Another backend: its snapshot goes into a new SQLite file, checked like any backup.
  const std::string o = out.string();
  std::error_code ec;
  if (fs::symlink_status(out, ec).type() != fs::file_type::not_found) {
    throw Error("gallery", o + ": already exists; a backup is only written to a new file");
  }
  detail::copy_store(*g.store, o);
  const GalleryCheck check = check_gallery(out);
  if (!check.clean()) {
    fs::remove(out, ec);
    throw Error("gallery", o + ": the backup fails its check (" + check.problems.front() + ")");
  }
}

}  // namespace vlrface
