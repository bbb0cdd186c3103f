// Unit tests of vlrface::Gallery: synthetic embeddings and images only, no model files.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface {
namespace {

namespace fs = std::filesystem;

constexpr const char* kModelA = "edgeface_xxs/46be7cc7";
constexpr const char* kModelB = "arcface_r50/0badf00d";

// One fresh folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("vlrface_gallery_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) +
             "_" + (info != nullptr ? info->name() : "x"));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

std::vector<float> random_embedding(unsigned seed, std::size_t dims = 512) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(dims);
  double norm = 0;
  for (auto& x : v) {
    x = dist(rng);
    norm += double{x} * x;
  }
  for (auto& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

cv::Mat synthetic_face(unsigned seed, int width = 112, int height = 112) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> c(0, 255);
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(c(rng), c(rng), c(rng)));
  cv::circle(img, {width / 2, height / 2}, std::min(width, height) / 3,
             cv::Scalar(c(rng), c(rng), c(rng)), cv::FILLED);
  cv::rectangle(img, {width / 4, height / 5}, {width / 2, height / 3},
                cv::Scalar(c(rng), c(rng), c(rng)), cv::FILLED);
  return img;
}

EnrollFace face(unsigned seed, std::size_t dims = 512) {
  return {synthetic_face(seed), random_embedding(seed, dims),
          "face" + std::to_string(seed) + ".jpg"};
}

std::vector<float> normalised_mean(const std::vector<std::vector<float>>& embeddings) {
  std::vector<double> sum(embeddings.at(0).size(), 0.0);
  for (const auto& e : embeddings) {
    double n = 0;
    for (const float x : e) n += double{x} * x;
    n = std::sqrt(n);
    for (std::size_t i = 0; i < e.size(); ++i) sum[i] += e[i] / n;
  }
  const double n = std::sqrt(std::inner_product(sum.begin(), sum.end(), sum.begin(), 0.0));
  std::vector<float> out(sum.size());
  for (std::size_t i = 0; i < sum.size(); ++i) out[i] = static_cast<float>(sum[i] / n);
  return out;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float tol = 1e-5f) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol) << "at " << i;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << bytes;
}

unsigned mode_of(const fs::path& file) {
  struct stat st {};
  EXPECT_EQ(::stat(file.c_str(), &st), 0) << file;
  return st.st_mode & 0777;
}

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// Direct SQL on a gallery file, for what the API cannot do (faking a newer schema, bulk setup).
void raw_sql(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string message = err != nullptr ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

std::string base64_decode(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    if (c == '=') break;
    const auto pos = kAlphabet.find(c);
    if (pos == std::string::npos) throw std::runtime_error("bad base64");
    acc = (acc << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// Everything the API can see, to check that a failed operation changed nothing.
std::string snapshot(const Gallery& g) {
  std::string s = g.model_id() + "\n";
  for (const auto& p : g.people()) {
    s += p.name + ":" + std::to_string(p.num_faces) + "\n";
    for (const auto& f : g.faces(p.name)) {
      s += std::to_string(f.id) + " " + f.source + " " + std::to_string(f.embedding.size());
      for (const float x : f.embedding) s += " " + std::to_string(x);
      s += "\n";
    }
  }
  for (const auto& t : g.templates()) {
    s += t.name;
    for (const float x : t.embedding) s += " " + std::to_string(x);
    s += "\n";
  }
  return s;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.stage(), "gallery") << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no vlrface::Error thrown";
  return {};
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// --- names ------------------------------------------------------------------------------------

TEST(GalleryNames, AcceptsOrdinaryNames) {
  const std::string good[] = {"alice", "Zoë Ångström", "O'Brien-Smith", "李小龙",
                              "a b",   "x.y",          "...x",          std::string(128, 'x')};
  for (const auto& name : good) {
    EXPECT_NO_THROW(validate_person_name(name)) << name;
  }
}

TEST(GalleryNames, RejectsBadNames) {
  const std::string bad[] = {"",
                             std::string(129, 'x'),
                             "a/b",
                             "a\\b",
                             ".",
                             "..",
                             " alice",
                             "alice ",
                             "a\tb",
                             "a\nb",
                             std::string("a\0b", 3),
                             "a\x7f",
                             "\xff\xfe",
                             "ab\xc3",
                             "a\xc2\x85",
                             "unknown",
                             "Unknown",
                             "null",
                             "NULL"};
  for (const auto& name : bad) {
    EXPECT_THROW(validate_person_name(name), Error) << "'" << name << "'";
  }
  EXPECT_CONTAINS(error_of([] { validate_person_name("a/b"); }), "'a/b'");
  EXPECT_CONTAINS(error_of([] { validate_person_name("Unknown"); }), "is reserved");
  EXPECT_CONTAINS(error_of([] { validate_person_name("a\x01"); }), "\\x01");
}

// --- create, reopen, permissions ---------------------------------------------------------------

TEST(Gallery, CreateAndReopenKeepsPeopleAndTemplates) {
  TempDir dir;
  const fs::path file = dir / "people.vlrg";
  std::vector<PersonTemplate> before;
  {
    Gallery g(file, kModelA);
    EXPECT_EQ(g.file(), file);
    EXPECT_EQ(g.model_id(), kModelA);
    EXPECT_EQ(g.size(), 0u);
    g.enroll("bob", {face(1), face(2)});
    g.enroll("alice", {face(3)});
    before = g.templates();
  }
  GallerySettings no_create;
  no_create.create_if_missing = false;
  Gallery g(file, kModelA, no_create);
  EXPECT_EQ(g.size(), 2u);
  EXPECT_TRUE(g.has_person("alice"));
  EXPECT_FALSE(g.has_person("carol"));
  const auto people = g.people();
  ASSERT_EQ(people.size(), 2u);
  EXPECT_EQ(people[0].name, "alice");
  EXPECT_EQ(people[0].num_faces, 1);
  EXPECT_EQ(people[1].name, "bob");
  EXPECT_EQ(people[1].num_faces, 2);
  const auto after = g.templates();
  ASSERT_EQ(after.size(), 2u);
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].name, before[i].name);
    EXPECT_EQ(after[i].embedding, before[i].embedding);
  }
  std::vector<std::string> visited;  // one at a time, in the same (name) order
  g.for_each_template([&](PersonTemplate&& t) {
    EXPECT_EQ(t.embedding, before[visited.size()].embedding);
    visited.push_back(t.name);
  });
  EXPECT_EQ(visited, (std::vector<std::string>{"alice", "bob"}));
}

TEST(Gallery, NewFileAndItsJournalArePrivate) {
  TempDir dir;
  const fs::path file = dir / "people.vlrg";
  {
    Gallery g(file, kModelA);
    g.enroll("alice", {face(1)});
  }
  EXPECT_EQ(mode_of(file), 0600u);
  // SQLite gives the journal the database's mode; look at it in the middle of a write.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO meta VALUES ('probe', 'x');", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  const fs::path journal = file.string() + "-journal";
  EXPECT_TRUE(fs::exists(journal));
  if (fs::exists(journal)) {
    EXPECT_EQ(mode_of(journal), 0600u);
  }
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(db);
}

TEST(Gallery, MissingFileWithoutCreateIsError) {
  TempDir dir;
  GallerySettings settings;
  settings.create_if_missing = false;
  const fs::path file = dir / "nope.vlrg";
  EXPECT_CONTAINS(error_of([&] { Gallery g(file, kModelA, settings); }), file.string());
  EXPECT_FALSE(fs::exists(file));
  EXPECT_TRUE(listing(dir.path()).empty());
}

// --- enroll and templates ---------------------------------------------------------------------

TEST(Gallery, TemplateIsNormalisedMean) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  auto f1 = face(11), f2 = face(12), f3 = face(13);
  // Unnormalised inputs: the template must normalise each before averaging.
  for (auto& x : f2.embedding) x *= 7.5f;
  g.enroll("alice", {f1, f2, f3});
  const auto t = g.templates();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].name, "alice");
  expect_close(t[0].embedding, normalised_mean({f1.embedding, f2.embedding, f3.embedding}));
  double norm = 0;
  for (const float x : t[0].embedding) norm += double{x} * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  // Stored embeddings are kept as given.
  const auto stored = g.faces("alice");
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(stored[1].embedding, f2.embedding);
}

TEST(Gallery, EnrollIntoExistingPersonAddsFacesAndUpdatesTemplate) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  const auto f1 = face(21), f2 = face(22), f3 = face(23);
  g.enroll("alice", {f1});
  expect_close(g.templates()[0].embedding, f1.embedding);
  g.enroll("alice", {f2, f3});
  EXPECT_EQ(g.size(), 1u);
  EXPECT_EQ(g.people()[0].num_faces, 3);
  expect_close(g.templates()[0].embedding,
               normalised_mean({f1.embedding, f2.embedding, f3.embedding}));
}

TEST(Gallery, FacesReturnsDecodedImagesAndSources) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  const auto f = face(31);
  g.enroll("alice", {f});
  const auto stored = g.faces("alice");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].person, "alice");
  EXPECT_EQ(stored[0].source, f.source);
  EXPECT_EQ(stored[0].embedding, f.embedding);
  ASSERT_EQ(stored[0].aligned.size(), cv::Size(112, 112));
  EXPECT_EQ(stored[0].aligned.type(), CV_8UC3);
  // JPEG at quality 95: close to the original, not identical.
  EXPECT_LT(cv::norm(stored[0].aligned, f.aligned, cv::NORM_L1) / (112.0 * 112 * 3), 3.0);
  EXPECT_CONTAINS(error_of([&] { g.faces("nobody"); }), "nobody");
}

TEST(Gallery, EnrollRejectsBadInput) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  g.enroll("alice", {face(1)});
  auto small = face(2);
  small.aligned = synthetic_face(2, 100, 100);
  EXPECT_CONTAINS(error_of([&] { g.enroll("bob", {small}); }), "112x112");
  auto grey = face(3);
  cv::cvtColor(grey.aligned, grey.aligned, cv::COLOR_BGR2GRAY);
  EXPECT_THROW(g.enroll("bob", {grey}), Error);
  auto empty_image = face(4);
  empty_image.aligned = cv::Mat();
  EXPECT_THROW(g.enroll("bob", {empty_image}), Error);
  auto empty = face(5);
  empty.embedding.clear();
  EXPECT_CONTAINS(error_of([&] { g.enroll("bob", {empty}); }), "empty");
  auto nan = face(6);
  nan.embedding[7] = std::nanf("");
  EXPECT_CONTAINS(error_of([&] { g.enroll("bob", {nan}); }), "NaN");
  auto zeros = face(7);
  std::fill(zeros.embedding.begin(), zeros.embedding.end(), 0.0f);
  EXPECT_THROW(g.enroll("bob", {zeros}), Error);
  const std::string dims = error_of([&] { g.enroll("bob", {face(8, 256)}); });
  EXPECT_CONTAINS(dims, "256");
  EXPECT_CONTAINS(dims, "512");
  EXPECT_CONTAINS(error_of([&] { g.enroll("bob", {}); }), "no faces");
  for (const std::string name : {"", "a/b", "..", "a\x01"}) {
    EXPECT_THROW(g.enroll(name, {face(9)}), Error) << name;
  }
  EXPECT_EQ(g.size(), 1u);
  EXPECT_FALSE(g.has_person("bob"));
}

TEST(Gallery, FailedEnrollLeavesGalleryUnchanged) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  Gallery g(file, kModelA);
  g.enroll("alice", {face(1), face(2)});
  g.enroll("bob", {face(3)});
  const std::string before = snapshot(g);
  const std::string bytes = read_bytes(file);

  auto bad = face(5);
  bad.aligned = synthetic_face(5, 112, 96);
  EXPECT_THROW(g.enroll("alice", {face(4), bad}), Error);  // existing person
  EXPECT_THROW(g.enroll("carol", {face(6), bad}), Error);  // new person
  // This one fails inside the transaction, after the person row was written: rolled back.
  EXPECT_THROW(g.enroll("dave", {face(7), face(8, 128)}), Error);
  EXPECT_THROW(g.enroll("erin", {face(9, 128)}), Error);

  EXPECT_EQ(snapshot(g), before);
  EXPECT_FALSE(g.has_person("carol"));
  EXPECT_FALSE(g.has_person("dave"));
  EXPECT_FALSE(g.has_person("erin"));
  EXPECT_EQ(read_bytes(file), bytes);
  EXPECT_EQ(snapshot(Gallery(file, kModelA)), before);
}

// --- rename and remove ------------------------------------------------------------------------

TEST(Gallery, RenameAndRemove) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  Gallery g(file, kModelA);
  const auto f = face(1);
  g.enroll("alice", {f});
  g.enroll("bob", {face(2), face(3)});
  g.rename_person("alice", "zoe");
  EXPECT_FALSE(g.has_person("alice"));
  ASSERT_TRUE(g.has_person("zoe"));
  EXPECT_EQ(g.faces("zoe").at(0).embedding, f.embedding);
  EXPECT_EQ(g.templates().back().name, "zoe");
  g.rename_person("zoe", "zoe");  // no-op
  g.remove_person("bob");
  EXPECT_FALSE(g.has_person("bob"));
  EXPECT_EQ(g.size(), 1u);
  // The faces went with the person (ON DELETE CASCADE).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM faces", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(Gallery, RenameAndRemoveErrors) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  g.enroll("alice", {face(1)});
  g.enroll("bob", {face(2)});
  const std::string before = snapshot(g);
  EXPECT_CONTAINS(error_of([&] { g.rename_person("carol", "dave"); }), "carol");
  const std::string taken = error_of([&] { g.rename_person("alice", "bob"); });
  EXPECT_CONTAINS(taken, "'bob' already exists");
  for (const std::string name : {"", "a/b", "..", "a\x1f", " x"}) {
    EXPECT_THROW(g.rename_person("alice", name), Error) << name;
  }
  EXPECT_CONTAINS(error_of([&] { g.remove_person("carol"); }), "carol");
  EXPECT_EQ(snapshot(g), before);
}

// --- model ids and schema versions -----------------------------------------------------------

TEST(Gallery, ModelMismatchRefusedThenReembedded) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  {
    Gallery g(file, kModelA);
    g.enroll("alice", {face(1), face(2)});
    g.enroll("bob", {face(3)});
  }
  const std::string bytes = read_bytes(file);
  const std::string message = error_of([&] { Gallery g(file, kModelB); });
  EXPECT_CONTAINS(message, file.string());
  EXPECT_CONTAINS(message, kModelA);
  EXPECT_CONTAINS(message, kModelB);
  EXPECT_CONTAINS(message, "reembed");
  EXPECT_EQ(read_bytes(file), bytes);

  Gallery g(file, kModelB, {}, GalleryOpen::kAllowModelMismatch);
  EXPECT_EQ(g.model_id(), kModelA);
  EXPECT_EQ(g.size(), 2u);
  // New model-B embeddings must not be mixed with the stored model-A ones.
  EXPECT_THROW(g.enroll("carol", {face(4)}), Error);

  std::vector<std::vector<float>> produced;
  g.reembed(
      [&](const cv::Mat& img) {
        EXPECT_EQ(img.size(), cv::Size(112, 112));
        EXPECT_EQ(img.type(), CV_8UC3);
        produced.push_back(random_embedding(100 + static_cast<unsigned>(produced.size()), 256));
        return produced.back();
      },
      kModelB);
  ASSERT_EQ(produced.size(), 3u);
  EXPECT_EQ(g.model_id(), kModelB);
  const auto alice = g.faces("alice");
  ASSERT_EQ(alice.size(), 2u);
  // Faces are re-embedded in id order: alice's two, then bob's.
  EXPECT_EQ(alice[0].embedding, produced[0]);
  EXPECT_EQ(alice[1].embedding, produced[1]);
  const auto t = g.templates();
  expect_close(t[0].embedding, normalised_mean({produced[0], produced[1]}));
  expect_close(t[1].embedding, produced[2]);
  g.enroll("carol", {face(4, 256)});

  EXPECT_NO_THROW(Gallery(file, kModelB));
  EXPECT_CONTAINS(error_of([&] { Gallery other(file, kModelA); }), kModelB);
}

TEST(Gallery, FailedReembedChangesNothing) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  Gallery(file, kModelA).enroll("alice", {face(1), face(2)});
  Gallery g(file, kModelB, {}, GalleryOpen::kAllowModelMismatch);
  const std::string before = snapshot(g);
  int calls = 0;
  EXPECT_THROW(g.reembed(
                   [&](const cv::Mat&) {
                     return ++calls == 2 ? std::vector<float>{} : random_embedding(7, 256);
                   },
                   kModelB),
               Error);
  EXPECT_EQ(snapshot(g), before);
  EXPECT_EQ(g.model_id(), kModelA);
}

TEST(Gallery, NewerSchemaRefused) {
  TempDir dir;
  for (const std::string bump :
       {"PRAGMA user_version = 3", "UPDATE meta SET value = '3' WHERE key = 'schema_version'"}) {
    const fs::path file = dir / "g.vlrg";
    fs::remove(file);
    Gallery(file, kModelA).enroll("alice", {face(1)});
    raw_sql(file, bump);
    const std::string bytes = read_bytes(file);
    const std::string message = error_of([&] { Gallery g(file, kModelA); });
    EXPECT_CONTAINS(message, file.string());
    EXPECT_CONTAINS(message, "schema version 3 is newer than this build supports (2)");
    EXPECT_THROW(Gallery(file, kModelA, {}, GalleryOpen::kAllowModelMismatch), Error);
    EXPECT_EQ(read_bytes(file), bytes);
  }
}

// --- files that are not galleries ---------------------------------------------------------------

TEST(Gallery, CorruptFilesRefusedAndLeftUntouched) {
  TempDir dir;
  const fs::path real = dir / "real.vlrg";
  {
    Gallery g(real, kModelA);
    for (unsigned i = 0; i < 6; ++i) g.enroll("p" + std::to_string(i), {face(i), face(i + 50)});
  }
  const std::string good = read_bytes(real);
  ASSERT_GT(good.size(), 8192u);

  std::mt19937 rng(42);
  std::string random(5000, '\0');
  for (auto& c : random) c = static_cast<char>(rng());
  std::vector<uchar> jpeg;
  cv::imencode(".jpg", synthetic_face(1), jpeg);

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"random.vlrg", random},
      {"empty.vlrg", ""},
      {"half.vlrg", good.substr(0, good.size() / 2)},
      {"tiny.vlrg", good.substr(0, 100)},
      {"header_then_garbage.vlrg", good.substr(0, 16) + random},
      {"photo.jpg", std::string(jpeg.begin(), jpeg.end())},
  };
  for (const auto& [name, bytes] : cases) {
    const fs::path file = dir / name;
    write_bytes(file, bytes);
    const auto files = listing(dir.path());
    const std::string message = error_of([&] { Gallery g(file, kModelA); });
    EXPECT_CONTAINS(message, file.string());
    EXPECT_CONTAINS(message, "is not a vlrface gallery");
    EXPECT_EQ(read_bytes(file), bytes) << name;
    EXPECT_EQ(listing(dir.path()), files) << name;  // no journal left behind either
    GallerySettings no_create;
    no_create.create_if_missing = false;
    EXPECT_THROW(Gallery(file, kModelA, no_create, GalleryOpen::kAllowModelMismatch), Error);
  }

  // A valid SQLite database of some other program.
  const fs::path other = dir / "other.db";
  { std::ofstream touch(other); }
  raw_sql(other, "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
  const std::string other_bytes = read_bytes(other);
  EXPECT_CONTAINS(error_of([&] { Gallery g(other, kModelA); }), "is not a vlrface gallery");
  EXPECT_EQ(read_bytes(other), other_bytes);

  EXPECT_CONTAINS(error_of([&] { Gallery g(dir.path(), kModelA); }), "directory");
  EXPECT_EQ(read_bytes(real), good);
}

// --- damage ------------------------------------------------------------------------------------

// Everything a gallery returns, bit for bit (embeddings compared as bytes, images as decoded
// pixels), to tell harmless damage from silently wrong data.
std::string exact_state(const Gallery& g) {
  std::string s = g.model_id() + "\n";
  const auto bytes = [](const std::vector<float>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  };
  for (const auto& p : g.people()) {
    s += p.name + ":" + std::to_string(p.num_faces) + "\n";
    for (const auto& f : g.faces(p.name)) {
      s += std::to_string(f.id) + " " + f.source + " " + bytes(f.embedding) + " ";
      s += std::string(reinterpret_cast<const char*>(f.aligned.data),
                       f.aligned.total() * f.aligned.elemSize());
      s += "\n";
    }
  }
  for (const auto& t : g.templates()) s += t.name + " " + bytes(t.embedding) + "\n";
  return s;
}

// A gallery of a few people with synthetic embeddings and images; returns its exact state.
std::string make_damage_fixture(const fs::path& file) {
  Gallery g(file, kModelA);
  g.enroll("alice", {face(1), face(2)});
  g.enroll("bob", {face(3), face(4)});
  g.enroll("carol", {face(5)});
  g.enroll("dave", {face(6), face(7), face(8)});
  g.remove_person("carol");  // leaves free space behind, as real use does
  g.enroll("erin", {face(9)});
  return exact_state(g);
}

enum class Outcome { kDetected, kHarmless, kSilent };

// Opens and reads the whole gallery: a loud Error is "detected", the original data bit for bit is
// "harmless" (the bytes hit space SQLite never reads), anything else is silent corruption.
Outcome open_damaged(const fs::path& file, const std::string& original, std::string* message) {
  try {
    Gallery g(file, kModelA);
    return exact_state(g) == original ? Outcome::kHarmless : Outcome::kSilent;
  } catch (const Error& e) {
    *message = e.what();
    return Outcome::kDetected;
  }
}

std::string overwrite(std::string bytes, std::size_t at, std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  for (std::size_t i = at; i < std::min(bytes.size(), at + n); ++i) {
    bytes[i] = static_cast<char>(rng());
  }
  return bytes;
}

TEST(GalleryDamage, RandomBytesInTheMiddleAreReportedNotIgnored) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  const std::string original = make_damage_fixture(file);
  const std::string good = read_bytes(file);
  for (unsigned seed = 1; seed <= 8; ++seed) {
    // 2,000 random bytes around the middle of the file, where the people's rows are.
    const std::size_t at = good.size() / 2 - 1000 + (seed - 1) * 397;
    const std::string bad = overwrite(good, at, 2000, seed);
    write_bytes(file, bad);
    // What `gallery list` and `identify` read: the people and their templates, no images.
    const std::string message = error_of([&] {
      Gallery g(file, kModelA);
      g.people();
      g.templates();
    });
    EXPECT_CONTAINS(message, file.string() + ": damaged: ");
    EXPECT_CONTAINS(message, "people readable; run 'vlrface gallery check'");
    EXPECT_EQ(read_bytes(file), bad) << "a damaged gallery must not be written to";
  }
}

TEST(GalleryDamage, RandomBytesInAnyPageAreNeverSilent) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  const std::string original = make_damage_fixture(file);
  const std::string good = read_bytes(file);
  const std::size_t page = (std::size_t{static_cast<unsigned char>(good[16])} << 8) |
                           static_cast<unsigned char>(good[17]);
  ASSERT_GE(page, 512u);
  const std::size_t pages = good.size() / page;
  ASSERT_GE(pages, 8u);
  int detected = 0, harmless = 0;
  for (std::size_t p = 0; p < pages; ++p) {
    for (unsigned k = 0; k < 4; ++k) {
      const unsigned seed = static_cast<unsigned>(p * 16 + k);
      std::mt19937 rng(seed);
      const std::size_t at = p * page + rng() % page;
      const std::string bad = overwrite(good, at, 2000, seed);
      write_bytes(file, bad);
      std::string message;
      switch (open_damaged(file, original, &message)) {
        case Outcome::kDetected:
          ++detected;
          // Page 1's header is what says "vlrface gallery": without it the file is no gallery.
          if (message.find("is not a vlrface gallery") == std::string::npos) {
            EXPECT_CONTAINS(message, "damaged");
            EXPECT_FALSE(check_gallery(file).clean()) << "page " << p << ": " << message;
          }
          break;
        case Outcome::kHarmless:
          ++harmless;
          EXPECT_TRUE(check_gallery(file).clean()) << "page " << p << ", offset " << at;
          break;
        case Outcome::kSilent:
          ADD_FAILURE() << "page " << p << ", offset " << at << ": wrong data returned silently";
          break;
      }
    }
  }
  std::printf("[          ] %zu pages: %d damaged copies detected, %d harmless\n", pages, detected,
              harmless);
  EXPECT_GT(detected, 0);
  // SQLite fills each page from its end (cells, overflow data): damage to the last 2,000 bytes
  // of any page hits what it reads, and must be detected whatever the page holds.
  for (std::size_t p = 0; p < pages; ++p) {
    const std::string bad = overwrite(good, (p + 1) * page - 2000, 2000, static_cast<unsigned>(p));
    write_bytes(file, bad);
    std::string message;
    EXPECT_EQ(open_damaged(file, original, &message), Outcome::kDetected) << "page " << p;
  }
}

TEST(GalleryDamage, DamagedRowsNameThePersonAndWhoIsReadable) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  make_damage_fixture(file);
  std::int64_t bob_face = 0;
  for (const auto& f : Gallery(file, kModelA).faces("bob")) bob_face = f.id;
  // One embedding changed behind the gallery's back (its checksum left as it was).
  raw_sql(file,
          "UPDATE faces SET embedding = randomblob(2048) WHERE id = " + std::to_string(bob_face));
  const std::string bytes = read_bytes(file);
  const std::string message = error_of([&] { Gallery g(file, kModelA); });
  EXPECT_CONTAINS(message, file.string() + ": damaged: face #" + std::to_string(bob_face) +
                               " of 'bob': the embedding fails its checksum");
  EXPECT_CONTAINS(message, "3 of 4 people readable; run 'vlrface gallery check'");
  // Listing (which needs no model) refuses it too, rather than listing people that match nobody.
  EXPECT_THROW(Gallery(file, "(no model)", {}, GalleryOpen::kAllowModelMismatch), Error);
  EXPECT_EQ(read_bytes(file), bytes);

  const GalleryCheck check = check_gallery(file);
  EXPECT_FALSE(check.clean());
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_CONTAINS(check.problems[0], "'bob'");
  EXPECT_EQ(check.readable, (std::vector<std::string>{"alice", "dave", "erin"}));
  EXPECT_EQ(check.damaged, (std::vector<std::string>{"bob"}));
  EXPECT_EQ(check.people_total, 4u);
  EXPECT_EQ(check.schema_version, kGallerySchemaVersion);
  EXPECT_EQ(read_bytes(file), bytes) << "checking must not write";

  // A template, and a length that no longer fits, are found the same way.
  raw_sql(file, "UPDATE people SET template = zeroblob(2048) WHERE name = 'alice'");
  raw_sql(file,
          "UPDATE faces SET embedding = zeroblob(1024) WHERE person_id = "
          "(SELECT id FROM people WHERE name = 'dave')");
  const GalleryCheck worse = check_gallery(file);
  EXPECT_EQ(worse.readable, (std::vector<std::string>{"erin"}));
  EXPECT_EQ(worse.damaged, (std::vector<std::string>{"alice", "bob", "dave"}));

  // The CLI: list fails with the message, check reports and exits 2.
  const std::string gallery = "--gallery " + file.string();
  auto r = vlrtest::run_cli(gallery + " gallery list");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_CONTAINS(r.output, "damaged");
  EXPECT_CONTAINS(r.output, "1 of 4 people readable");
  r = vlrtest::run_cli(gallery + " gallery check");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_CONTAINS(r.output, "DAMAGED");
  EXPECT_CONTAINS(r.output, "1 of 4 people readable (their data can be recovered): erin");
  EXPECT_CONTAINS(r.output, "damaged: alice, bob, dave");
  r = vlrtest::run_cli(gallery + " gallery check --json");
  EXPECT_EQ(r.status, 2) << r.output;
  const auto doc = nlohmann::json::parse(r.output);
  EXPECT_EQ(doc.at("clean"), false);
  EXPECT_EQ(doc.at("readable"), nlohmann::json::array({"erin"}));
}

TEST(GalleryIntegrity, CheckPassesOnACleanGallery) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  make_damage_fixture(file);
  const GalleryCheck check = check_gallery(file);
  EXPECT_TRUE(check.clean()) << (check.problems.empty() ? "" : check.problems[0]);
  EXPECT_EQ(check.people_total, 4u);
  EXPECT_EQ(check.readable, (std::vector<std::string>{"alice", "bob", "dave", "erin"}));
  EXPECT_TRUE(check.damaged.empty());
  EXPECT_EQ(check.model_id, kModelA);
  const auto r = vlrtest::run_cli("--gallery " + file.string() + " gallery check");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_CONTAINS(r.output, ": ok (schema 2");
  EXPECT_CONTAINS(error_of([&] { check_gallery(dir / "absent.vlrg"); }), "absent.vlrg");
  write_bytes(dir / "junk.vlrg", std::string(4096, 'x'));
  EXPECT_CONTAINS(error_of([&] { check_gallery(dir / "junk.vlrg"); }), "not a vlrface gallery");
}

TEST(GalleryIntegrity, Crc32IsZlibs) {
  EXPECT_EQ(gallery_crc32("123456789"), 0xCBF43926u);  // the standard check value
  EXPECT_EQ(gallery_crc32(""), 0u);
  // Every length (eight bytes at a time, then the tail) against the bit-by-bit definition.
  const auto reference = [](std::string_view s) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (const char ch : s) {
      c ^= static_cast<unsigned char>(ch);
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
  };
  std::mt19937 rng(3);
  std::string bytes(100, '\0');
  for (auto& b : bytes) b = static_cast<char>(rng());
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    EXPECT_EQ(gallery_crc32(std::string_view(bytes).substr(0, n)),
              reference(std::string_view(bytes).substr(0, n)))
        << n;
  }
}

TEST(GalleryIntegrity, BackupIsAPrivateCheckedCopy) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  const std::string original = make_damage_fixture(file);
  Gallery g(file, kModelA);
  const fs::path out = dir / "backup.vlrg";
  ::umask(022);  // the usual one: the backup must still be private
  g.backup(out);
  EXPECT_EQ(mode_of(out), 0600u);
  EXPECT_EQ(exact_state(Gallery(out, kModelA)), original);
  EXPECT_TRUE(check_gallery(out).clean());

  // Nothing that exists is replaced: a file, a link (nor what it points to).
  const std::string backup_bytes = read_bytes(out);
  EXPECT_CONTAINS(error_of([&] { g.backup(out); }), "already exists");
  EXPECT_EQ(read_bytes(out), backup_bytes);
  const fs::path link = dir / "link.vlrg";
  fs::create_symlink(dir / "elsewhere.vlrg", link);
  EXPECT_CONTAINS(error_of([&] { g.backup(link); }), "already exists");
  EXPECT_FALSE(fs::exists(dir / "elsewhere.vlrg"));
  EXPECT_THROW(g.backup(dir / "no_such_folder" / "b.vlrg"), Error);
  EXPECT_EQ(listing(dir.path()), (std::set<std::string>{"g.vlrg", "backup.vlrg", "link.vlrg"}));

  // The CLI, while another connection holds the gallery open.
  const auto r = vlrtest::run_cli("--gallery " + file.string() + " gallery backup " +
                                  (dir / "cli.vlrg").string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(mode_of(dir / "cli.vlrg"), 0600u);
  EXPECT_EQ(exact_state(Gallery(dir / "cli.vlrg", kModelA)), original);
  EXPECT_NE(vlrtest::run_cli("--gallery " + file.string() + " gallery backup " +
                             (dir / "cli.vlrg").string())
                .status,
            0);
}

TEST(GalleryIntegrity, Schema1GalleryIsUpgradedWithChecksums) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  const std::string original = make_damage_fixture(file);
  const EnrollFace ghost = face(77);
  Gallery(file, kModelA).enroll("ghost", {ghost});
  const std::string ghost_bytes(reinterpret_cast<const char*>(ghost.embedding.data()),
                                256);  // little-endian host
  // What version 1 wrote: the same tables without the checksum columns; and a person removed
  // the way version 1 did, by an SQLite built without secure_delete: their bytes stay behind.
  raw_sql(file,
          "ALTER TABLE people DROP COLUMN template_crc;"
          "ALTER TABLE faces DROP COLUMN embedding_crc;"
          "ALTER TABLE faces DROP COLUMN image_crc;"
          "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
          "PRAGMA user_version = 1;"
          "PRAGMA secure_delete = OFF; PRAGMA foreign_keys = ON;"
          "DELETE FROM people WHERE name = 'ghost';");
  ASSERT_NE(read_bytes(file).find(ghost_bytes), std::string::npos);
  const GalleryCheck before = check_gallery(file);
  EXPECT_EQ(before.schema_version, 1);
  EXPECT_TRUE(before.clean());
  {
    Gallery g(file, kModelA);
    EXPECT_EQ(exact_state(g), original);
  }
  // The upgrade vacuumed the file: the removed person's bytes are gone.
  EXPECT_EQ(read_bytes(file).find(ghost_bytes), std::string::npos);
  const GalleryCheck after = check_gallery(file);
  EXPECT_EQ(after.schema_version, 2);
  EXPECT_TRUE(after.clean());
  EXPECT_EQ(after.readable.size(), 4u);
  EXPECT_EQ(mode_of(file), 0600u);
  // The checksums are really there: damage is now found.
  raw_sql(file, "UPDATE people SET template = zeroblob(2048) WHERE name = 'erin'");
  EXPECT_CONTAINS(error_of([&] { Gallery g(file, kModelA); }), "'erin'");
}

TEST(Gallery, RemovedPersonLeavesNoBytesInTheFile) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  Gallery g(file, kModelA);
  g.enroll("alice", {face(1)});
  const EnrollFace ghost = face(2);
  g.enroll("ghost", {ghost});
  const std::string embedding(reinterpret_cast<const char*>(ghost.embedding.data()),
                              ghost.embedding.size() * sizeof(float));  // little-endian host
  ASSERT_NE(read_bytes(file).find(embedding.substr(0, 256)), std::string::npos);
  g.remove_person("ghost");
  // secure_delete: the freed pages are zeroed, not merely marked free.
  EXPECT_EQ(read_bytes(file).find(embedding.substr(0, 256)), std::string::npos);
  EXPECT_EQ(read_bytes(file).find(embedding.substr(1024, 256)), std::string::npos);
}

TEST(Gallery, SecondHandleSeesChangesMadeByAnother) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  // As `vlrface serve` and the CLI would hold it: two connections to one file.
  Gallery server(file, kModelA);
  Gallery cli(file, kModelA);
  EXPECT_FALSE(server.refresh_if_changed());
  cli.enroll("alice", {face(1)});
  cli.enroll("bob", {face(2)});
  EXPECT_TRUE(server.refresh_if_changed());
  EXPECT_FALSE(server.refresh_if_changed()) << "nothing new since the last look";
  const auto names = [](const Gallery& g) {
    std::vector<std::string> out;
    for (const auto& t : g.templates()) out.push_back(t.name);
    return out;
  };
  EXPECT_EQ(names(server), (std::vector<std::string>{"alice", "bob"}));

  cli.remove_person("alice");
  EXPECT_TRUE(server.refresh_if_changed());
  EXPECT_EQ(names(server), (std::vector<std::string>{"bob"}));
  EXPECT_FALSE(server.has_person("alice"));

  // Its own changes are not "changes by another"; the other side sees them.
  server.enroll("carol", {face(3)});
  EXPECT_FALSE(server.refresh_if_changed());
  EXPECT_TRUE(cli.refresh_if_changed());
  EXPECT_TRUE(cli.has_person("carol"));

  // A re-embed by the other process changes the model the stored embeddings come from.
  Gallery other(file, kModelB, {}, GalleryOpen::kAllowModelMismatch);
  other.reembed([](const cv::Mat&) { return random_embedding(9, 256); }, kModelB);
  EXPECT_TRUE(server.refresh_if_changed());
  EXPECT_EQ(server.model_id(), kModelB);
  EXPECT_THROW(server.enroll("dave", {face(4)}), Error);  // model A's embeddings no longer fit
}

// --- several handles ---------------------------------------------------------------------------

TEST(Gallery, MoveAndSecondHandle) {
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  Gallery a(file, kModelA);
  Gallery b(file, kModelA);
  a.enroll("alice", {face(1)});
  EXPECT_TRUE(b.has_person("alice"));  // separate connections see each other's commits
  b.enroll("bob", {face(2)});
  EXPECT_EQ(a.size(), 2u);

  Gallery moved(std::move(a));
  EXPECT_EQ(moved.size(), 2u);
  EXPECT_EQ(moved.file(), file);
  Gallery other(dir / "other.vlrg", kModelA);
  other = std::move(moved);
  EXPECT_EQ(other.size(), 2u);
  EXPECT_EQ(other.file(), file);
}

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

// --- scale -------------------------------------------------------------------------------------

TEST(Gallery, TemplatesForTenThousandPeople) {
  TempDir dir;
  const fs::path file = dir / "big.vlrg";
  Gallery(file, kModelA).enroll("seed", {face(1)});
  // Rows go in by SQL in one transaction: 10,000 enroll() calls would mean 10,000 fsyncs.
  constexpr int kPeople = 10000;
  constexpr std::size_t kDims = 512;
  std::vector<int> order(kPeople);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(5));
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "BEGIN; DELETE FROM faces; DELETE FROM people;", nullptr, nullptr,
                           nullptr),
              SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(
        sqlite3_prepare_v2(db, "INSERT INTO people(name, template, template_crc) VALUES (?, ?, ?)",
                           -1, &st, nullptr),
        SQLITE_OK);
    for (const int i : order) {
      char name[32];
      std::snprintf(name, sizeof name, "person_%05d", i);
      const auto t = random_embedding(static_cast<unsigned>(i), kDims);  // little-endian host
      sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_blob(st, 2, t.data(), static_cast<int>(t.size() * sizeof(float)),
                        SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 3,
                         gallery_crc32(std::string_view(reinterpret_cast<const char*>(t.data()),
                                                        t.size() * sizeof(float))));
      ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
      sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    ASSERT_EQ(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  Gallery g(file, kModelA);
  EXPECT_EQ(g.size(), static_cast<std::size_t>(kPeople));
  const auto t = g.templates();
  ASSERT_EQ(t.size(), static_cast<std::size_t>(kPeople));
  for (int i = 0; i < kPeople; i += 997) {
    char name[32];
    std::snprintf(name, sizeof name, "person_%05d", i);
    EXPECT_EQ(t[i].name, name);
    EXPECT_EQ(t[i].embedding, random_embedding(static_cast<unsigned>(i), kDims));
  }
  EXPECT_TRUE(std::is_sorted(t.begin(), t.end(),
                             [](const auto& a, const auto& b) { return a.name < b.name; }));
  EXPECT_EQ(g.people().size(), static_cast<std::size_t>(kPeople));
}

}  // namespace
}  // namespace vlrface
