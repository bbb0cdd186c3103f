// Unit tests of the gallery's JSON export and import (its own format and the reference app's), and
// copies between galleries.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gallery_test_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface {
namespace {

using namespace gallery_test;

// --- export ------------------------------------------------------------------------------------

TEST(Gallery, ExportJsonRoundTrip) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  const auto a1 = face(1), a2 = face(2), b1 = face(3);
  g.enroll("bob", {b1});
  g.enroll("alice", {a1, a2});
  const fs::path out = dir / "export.json";
  write_bytes(out, "old content");
  fs::permissions(out, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                           fs::perms::others_read);
  g.export_json(out);
  EXPECT_EQ(mode_of(out), 0600u);
  EXPECT_EQ(listing(dir.path()), (std::set<std::string>{"g.vlrg", "export.json"}));

  const auto doc = nlohmann::json::parse(read_bytes(out));
  EXPECT_EQ(doc.at("format"), "vlrface-gallery-export");
  EXPECT_EQ(doc.at("version"), 1);
  EXPECT_EQ(doc.at("model_id"), kModelA);
  const auto& people = doc.at("people");
  ASSERT_EQ(people.size(), 2u);
  EXPECT_EQ(people[0].at("name"), "alice");
  EXPECT_EQ(people[1].at("name"), "bob");
  ASSERT_EQ(people[0].at("faces").size(), 2u);
  ASSERT_EQ(people[1].at("faces").size(), 1u);
  const auto templates = g.templates();
  for (std::size_t p = 0; p < 2; ++p) {
    EXPECT_EQ(people[p].at("template").get<std::vector<float>>(), templates[p].embedding);
  }
  const auto& f = people[0].at("faces")[1];
  EXPECT_EQ(f.at("source"), a2.source);
  EXPECT_EQ(f.at("embedding").get<std::vector<float>>(), a2.embedding);
  const std::string jpeg = base64_decode(f.at("image_jpeg_base64").get<std::string>());
  const cv::Mat img = decode_image(std::vector<std::uint8_t>(jpeg.begin(), jpeg.end()), "export");
  EXPECT_EQ(img.size(), cv::Size(112, 112));
  EXPECT_EQ(img.type(), CV_8UC3);

  EXPECT_THROW(g.export_json(dir / "no_such_folder" / "x.json"), Error);
  EXPECT_THROW(g.export_json(g.file()), Error);
  EXPECT_EQ(g.size(), 2u);
}

TEST(Gallery, ExportRefusesTargetsThatAreNotRegularFiles) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  g.enroll("alice", {face(1)});
  // A symbolic link: renaming over it would replace the link, and following it would write
  // wherever it points; neither happens, and the file it points to keeps its content.
  const fs::path target = dir / "target.txt";
  write_bytes(target, "keep me");
  const fs::path link = dir / "link.json";
  fs::create_symlink(target, link);
  std::string message = error_of([&] { g.export_json(link); });
  EXPECT_CONTAINS(message, link.string());
  EXPECT_CONTAINS(message, "symbolic link");
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), target);
  EXPECT_EQ(read_bytes(target), "keep me");
  // A dangling link is refused too: nothing is created where it points.
  const fs::path dangling = dir / "dangling.json";
  fs::create_symlink(dir / "nowhere.json", dangling);
  EXPECT_CONTAINS(error_of([&] { g.export_json(dangling); }), "symbolic link");
  EXPECT_FALSE(fs::exists(dir / "nowhere.json"));
  // A FIFO (a reader could be waiting on it) stays a FIFO.
  const fs::path fifo = dir / "fifo.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  message = error_of([&] { g.export_json(fifo); });
  EXPECT_CONTAINS(message, fifo.string());
  EXPECT_CONTAINS(message, "FIFO");
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  // A directory.
  const fs::path folder = dir / "folder.json";
  fs::create_directory(folder);
  EXPECT_CONTAINS(error_of([&] { g.export_json(folder); }), "directory");
  EXPECT_TRUE(fs::is_directory(folder));
  // No temporary file is left behind by any of the refusals.
  EXPECT_EQ(listing(dir.path()),
            (std::set<std::string>{"g.vlrg", "target.txt", "link.json", "dangling.json",
                                   "fifo.json", "folder.json"}));
  // A regular file is still replaced atomically.
  const fs::path plain = dir / "plain.json";
  write_bytes(plain, "old");
  g.export_json(plain);
  EXPECT_EQ(nlohmann::json::parse(read_bytes(plain)).at("people").size(), 1u);
}

// --- import from the reference app -----------------------------------------------------------

struct ReferenceFolder {
  explicit ReferenceFolder(const fs::path& root) : json(root / "ref" / "gallery.json") {
    fs::create_directories(root / "ref" / "alice");
    fs::create_directories(root / "ref" / "bob");
    cv::imwrite((root / "ref" / "alice" / "1.jpg").string(), synthetic_face(1));
    cv::imwrite((root / "ref" / "alice" / "2.png").string(), synthetic_face(2, 200, 160));
    cv::imwrite((root / "ref" / "bob" / "1.jpg").string(), synthetic_face(3, 64, 64));
  }
  void write(const nlohmann::json& doc) const { write_bytes(json, doc.dump(2)); }
  nlohmann::json standard() const {
    return {{"people",
             {{{"name", "alice"},
               {"image_paths", {"alice/1.jpg", "alice/2.png"}},
               {"embedding", {0.5, 0.5}}},
              {{"name", "bob"}, {"image_paths", {"bob/1.jpg"}}, {"embedding", {1.0, 0.0}}}}}};
  }
  fs::path json;
};

// Stands in for the face model: records what it saw, answers with seeded random vectors.
struct FakeEmbedder {
  std::vector<cv::Size> sizes;
  std::vector<int> types;
  std::vector<std::vector<float>> produced;
  std::size_t dims = 512;
  std::vector<float> operator()(const cv::Mat& img) {
    sizes.push_back(img.size());
    types.push_back(img.type());
    produced.push_back(random_embedding(1000 + static_cast<unsigned>(produced.size()), dims));
    return produced.back();
  }
};

TEST(Gallery, ImportReference) {
  TempDir dir;
  ReferenceFolder ref(dir.path());
  ref.write(ref.standard());
  Gallery g(dir / "g.vlrg", kModelA);
  const auto existing = face(9);
  g.enroll("bob", {existing});

  FakeEmbedder fake;
  const int imported = g.import_reference(ref.json, std::ref(fake));
  EXPECT_EQ(imported, 2);
  ASSERT_EQ(fake.sizes.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(fake.sizes[i], cv::Size(112, 112));
    EXPECT_EQ(fake.types[i], CV_8UC3);
  }
  const auto alice = g.faces("alice");
  ASSERT_EQ(alice.size(), 2u);
  EXPECT_EQ(alice[0].source, "alice/1.jpg");
  EXPECT_EQ(alice[1].source, "alice/2.png");
  // The reference app's own embeddings are ignored; ours come from `embed`.
  EXPECT_EQ(alice[0].embedding, fake.produced[0]);
  EXPECT_EQ(alice[1].embedding, fake.produced[1]);
  const auto bob = g.faces("bob");
  ASSERT_EQ(bob.size(), 2u);
  EXPECT_EQ(bob[0].embedding, existing.embedding);
  EXPECT_EQ(bob[1].embedding, fake.produced[2]);
  for (const auto& f : bob) EXPECT_EQ(f.aligned.size(), cv::Size(112, 112));
  const auto t = g.templates();
  expect_close(t[0].embedding, normalised_mean({fake.produced[0], fake.produced[1]}));
  expect_close(t[1].embedding, normalised_mean({existing.embedding, fake.produced[2]}));
}

TEST(Gallery, ImportReferenceMissingImageChangesNothing) {
  TempDir dir;
  ReferenceFolder ref(dir.path());
  auto doc = ref.standard();
  doc["people"].push_back({{"name", "carol"}, {"image_paths", {"carol/missing.jpg"}}});
  ref.write(doc);
  Gallery g(dir / "g.vlrg", kModelA);
  g.enroll("bob", {face(9)});
  const std::string before = snapshot(g);
  FakeEmbedder fake;
  const std::string message = error_of([&] { g.import_reference(ref.json, std::ref(fake)); });
  EXPECT_CONTAINS(message, ref.json.string());
  EXPECT_CONTAINS(message, "people[2]");
  EXPECT_CONTAINS(message, "carol");
  EXPECT_CONTAINS(message, "carol/missing.jpg");
  EXPECT_EQ(snapshot(g), before);
  EXPECT_FALSE(g.has_person("alice"));
}

TEST(Gallery, ImportReferenceBadJsonOrKeysChangesNothing) {
  TempDir dir;
  ReferenceFolder ref(dir.path());
  Gallery g(dir / "g.vlrg", kModelA);
  g.enroll("bob", {face(9)});
  const std::string before = snapshot(g);
  FakeEmbedder fake;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"people\": [", "not valid JSON"},
      {"", "not valid JSON"},
      {R"({"persons": []})", "\"people\""},
      {R"([1, 2])", "\"people\""},
      {R"({"people": [{"image_paths": ["alice/1.jpg"]}]})", "people[0]: has no \"name\""},
      {R"({"people": [{"name": "x"}]})", "people[0] ('x'): has no \"image_paths\""},
      {R"({"people": [{"name": "alice", "image_paths": ["alice/1.jpg"]}, 7]})", "people[1]"},
      {R"({"people": [{"name": "a/b", "image_paths": ["alice/1.jpg"]}]})", "people[0]"},
      {R"({"people": [{"name": "x", "image_paths": [3]}]})", "image_paths[0]"},
  };
  for (const auto& [text, expected] : cases) {
    write_bytes(ref.json, text);
    const std::string message = error_of([&] { g.import_reference(ref.json, std::ref(fake)); });
    EXPECT_CONTAINS(message, ref.json.string());
    EXPECT_CONTAINS(message, expected);
  }
  EXPECT_CONTAINS(error_of([&] { g.import_reference(dir / "absent.json", std::ref(fake)); }),
                  "absent.json");
  EXPECT_EQ(snapshot(g), before);
}

TEST(Gallery, ImportRollsBackEarlierPeopleWhenALaterOneFails) {
  TempDir dir;
  ReferenceFolder ref(dir.path());
  ref.write(ref.standard());
  Gallery g(dir / "g.vlrg", kModelA);
  // alice is written inside the transaction; bob's shorter embedding then fails it.
  FakeEmbedder fake;
  auto embed = [&](const cv::Mat& img) {
    fake.dims = fake.produced.size() < 2 ? 512 : 128;
    return fake(img);
  };
  const std::string message = error_of([&] { g.import_reference(ref.json, embed); });
  EXPECT_CONTAINS(message, "people[1] ('bob')");
  EXPECT_CONTAINS(message, "128");
  EXPECT_EQ(fake.produced.size(), 3u);
  EXPECT_EQ(g.size(), 0u);
  EXPECT_FALSE(g.has_person("alice"));
}

TEST(Gallery, ImportRefusedWhileModelsDiffer) {
  TempDir dir;
  ReferenceFolder ref(dir.path());
  ref.write(ref.standard());
  Gallery(dir / "g.vlrg", kModelA).enroll("bob", {face(9)});
  Gallery g(dir / "g.vlrg", kModelB, {}, GalleryOpen::kAllowModelMismatch);
  FakeEmbedder fake;
  EXPECT_THROW(g.import_reference(ref.json, std::ref(fake)), Error);
  EXPECT_TRUE(fake.produced.empty());
}

// --- round trip: export, then import -----------------------------------------------------------

GalleryImport import_file(Gallery& g, const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return g.import_json(in, file.string(), file.parent_path(), []() -> FaceEmbedder {
    throw std::logic_error("an export needs no embedder");
  });
}

GalleryImport import_text(Gallery& g, const std::string& text) {
  std::istringstream in(text);
  return g.import_json(in, "export.json", ".", []() -> FaceEmbedder {
    throw std::logic_error("an export needs no embedder");
  });
}

std::string export_text(const Gallery& g) {
  std::ostringstream out;
  g.export_json(out);
  return out.str();
}

TEST(GalleryExport, ImportIntoAFreshGalleryGivesTheSameGallery) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  g.enroll("bob", {face(3)});
  g.enroll("alice", {face(1), face(2)});
  g.enroll("zoë", {face(4), face(5), face(6)});
  const fs::path out = dir / "export.json";
  g.export_json(out);
  EXPECT_EQ(export_text(g), read_bytes(out));  // the stream and the file hold the same document

  // A new gallery opened for another model: empty, so it takes the export's.
  Gallery h(dir / "h.vlrg", kModelB, {}, GalleryOpen::kAllowModelMismatch);
  const GalleryImport r = import_file(h, out);
  EXPECT_FALSE(r.reference);
  EXPECT_EQ(r.model_id, kModelA);
  EXPECT_EQ(r.people, 3);
  EXPECT_EQ(r.people_created, 3);
  EXPECT_EQ(r.faces_added, 6);
  EXPECT_EQ(r.faces_skipped, 0);
  EXPECT_EQ(h.model_id(), kModelA);
  // Same people, same faces (embeddings bit for bit, images pixel for pixel), same templates.
  EXPECT_EQ(exact_state(h), exact_state(g));
  const auto tg = g.templates(), th = h.templates();
  ASSERT_EQ(th.size(), 3u);
  for (std::size_t i = 0; i < th.size(); ++i) EXPECT_EQ(th[i].embedding, tg[i].embedding);
  // And the copy exports to the same document, byte for byte (images are kept, not re-encoded).
  EXPECT_EQ(export_text(h), read_bytes(out));
  // Strict opening with the export's model works: the model id came along.
  EXPECT_NO_THROW(Gallery(dir / "h.vlrg", kModelA));
}

TEST(GalleryExport, ImportingTheSameExportTwiceAddsNothing) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  g.enroll("alice", {face(1), face(2)});
  g.enroll("bob", {face(3)});
  const std::string doc = export_text(g);
  Gallery h(dir / "h.vlrg", kModelA);
  ASSERT_EQ(import_text(h, doc).faces_added, 3);
  const std::string state = exact_state(h);
  const auto revision = h.revision();
  const GalleryImport again = import_text(h, doc);
  EXPECT_EQ(again.people, 0);
  EXPECT_EQ(again.faces_added, 0);
  EXPECT_EQ(again.faces_skipped, 3);
  EXPECT_EQ(exact_state(h), state);
  EXPECT_EQ(h.revision(), revision);  // nothing written at all
  // Into the gallery it came from: nothing either.
  EXPECT_EQ(import_text(g, doc).faces_skipped, 3);
  EXPECT_EQ(g.people()[0].num_faces, 2);
}

TEST(GalleryExport, ImportAddsOnlyTheFacesThatAreNew) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  const auto a1 = face(1), a2 = face(2), b1 = face(3);
  g.enroll("alice", {a1, a2});
  g.enroll("bob", {b1});
  const std::string doc = export_text(g);
  Gallery h(dir / "h.vlrg", kModelA);
  h.enroll("alice", {a1});  // one of alice's faces is here already
  h.enroll("carol", {face(7)});
  h.enroll("robert", {b1});  // bob's face, under another name: a known face, not added again
  const GalleryImport r = import_text(h, doc);
  EXPECT_EQ(r.people, 1);  // alice got a face; bob got none (his only face is known)
  EXPECT_EQ(r.people_created, 0);
  EXPECT_EQ(r.faces_added, 1);
  EXPECT_EQ(r.faces_skipped, 2);
  EXPECT_FALSE(h.has_person("bob"));  // not created empty
  const auto alice = h.faces("alice");
  ASSERT_EQ(alice.size(), 2u);
  EXPECT_EQ(alice[1].embedding, a2.embedding);
  EXPECT_EQ(alice[1].source, a2.source);
  expect_close(h.templates()[0].embedding, normalised_mean({a1.embedding, a2.embedding}));
  EXPECT_EQ(h.size(), 3u);
}

TEST(GalleryExport, ImportOfAnotherModelIntoAPeopledGalleryIsRefused) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  g.enroll("alice", {face(1)});
  const std::string doc = export_text(g);
  Gallery h(dir / "h.vlrg", kModelB);
  h.enroll("bob", {face(2)});
  const std::string before = exact_state(h);
  const std::string message = error_of([&] { import_text(h, doc); });
  EXPECT_CONTAINS(message, kModelA);
  EXPECT_CONTAINS(message, kModelB);
  EXPECT_CONTAINS(message, "new gallery");
  EXPECT_EQ(exact_state(h), before);
}

TEST(GalleryExport, BadExportsAreRefusedAndChangeNothing) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  g.enroll("alice", {face(1)});
  const auto good = nlohmann::json::parse(export_text(g));
  Gallery h(dir / "h.vlrg", kModelA);
  h.enroll("bob", {face(2)});
  const std::string before = exact_state(h);
  const std::string small = [] {
    const auto jpeg = encode_jpeg(synthetic_face(9, 50, 50));
    return std::string(jpeg.begin(), jpeg.end());
  }();
  std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](auto& d) { d["version"] = 2; }, "export version 2 is not supported"},
      {[](auto& d) { d["format"] = "something-else"; }, "is not a gallery export"},
      {[](auto& d) { d.erase("model_id"); }, "has no \"model_id\""},
      {[](auto& d) { d["people"] = 3; }, "has no \"people\" array"},
      {[](auto& d) { d["people"][0]["name"] = "a/b"; }, "people[0] ('a/b'): person name"},
      {[](auto& d) { d["people"].push_back(d["people"][0]); },
       "people[1] ('alice'): appears twice"},
      {[](auto& d) { d["people"][0]["faces"] = "x"; }, "has no \"faces\" array"},
      {[](auto& d) {
         d["people"][0]["faces"][0]["embedding"] = {1, "x"};
       },
       "faces[0]: \"embedding\" is not an array of numbers"},
      {[](auto& d) { d["people"][0]["faces"][0]["embedding"] = std::vector<float>(512, 0.f); },
       "faces[0]: embedding is all zeros"},
      {[](auto& d) { d["people"][0]["faces"][0]["embedding"] = std::vector<float>(128, 1.f); },
       "128-value embedding"},
      {[](auto& d) { d["people"][0]["faces"][0]["image_jpeg_base64"] = "***"; }, "is not base64"},
      {[&](auto& d) { d["people"][0]["faces"][0]["image_jpeg_base64"] = base64_of(small); },
       "the image is 50x50, expected 112x112"},
      {[](auto& d) { d["people"][0]["faces"][0].erase("image_jpeg_base64"); },
       "has no \"image_jpeg_base64\""},
  };
  for (const auto& [change, expected] : cases) {
    nlohmann::json d = good;
    change(d);
    const std::string message = error_of([&] { import_text(h, d.dump()); });
    EXPECT_CONTAINS(message, "export.json");
    EXPECT_CONTAINS(message, expected);
    EXPECT_EQ(exact_state(h), before) << expected;
  }
  EXPECT_CONTAINS(error_of([&] { import_text(h, "{\"format\": "); }), "not valid JSON");
  EXPECT_EQ(exact_state(h), before);
}

TEST(GalleryExport, CliExportToStdoutImportsBackFromStdinOnce) {
  TempDir dir;
  {
    Gallery g(dir / "g.vlrg", kModelA);
    g.enroll("alice", {face(1), face(2)});
    g.enroll("bob", {face(3)});
  }
  const std::string cli = VLRFACE_CLI;
  const std::string g = (dir / "g.vlrg").string(), h = (dir / "h.vlrg").string();
  const std::string d = dir.path().string();
  // `export -` writes the document to stdout, the summary to stderr, and no file named "-".
  ASSERT_EQ(std::system(("cd " + d + " && " + cli + " --gallery " + g +
                         " gallery export - > out.json 2> err.txt")
                            .c_str()),
            0);
  EXPECT_FALSE(fs::exists(dir / "-"));
  Gallery source(dir / "g.vlrg", kModelA);
  EXPECT_EQ(read_bytes(dir / "out.json"), export_text(source));
  EXPECT_CONTAINS(read_bytes(dir / "err.txt"), "exported 2 people to standard output");
  // `import -` reads it from stdin, into a new gallery; the second time adds nothing.
  const std::string import = cli + " --gallery " + h + " gallery import - < " + d + "/out.json > " +
                             d + "/import.txt 2>&1";
  ASSERT_EQ(std::system(import.c_str()), 0) << read_bytes(dir / "import.txt");
  EXPECT_CONTAINS(read_bytes(dir / "import.txt"),
                  "imported 2 people (3 faces) from standard input");
  ASSERT_EQ(std::system(import.c_str()), 0) << read_bytes(dir / "import.txt");
  EXPECT_CONTAINS(read_bytes(dir / "import.txt"), "imported 0 people (0 faces)");
  EXPECT_CONTAINS(read_bytes(dir / "import.txt"),
                  "3 faces were already in the gallery and were skipped");
  Gallery copy(dir / "h.vlrg", kModelA);
  EXPECT_EQ(exact_state(copy), exact_state(source));
  EXPECT_EQ(mode_of(dir / "h.vlrg"), 0600u);
}

}  // namespace
}  // namespace vlrface
