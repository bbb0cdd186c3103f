// Unit tests of vlrface::Gallery (SQLite): names, enrolment, templates, models, schema, files,
// handles, scale. Synthetic embeddings and images only, no model files.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gallery_test_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface {
namespace {

using namespace gallery_test;

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

TEST(Gallery, EnrollManyIsOneTransactionAllOrNothing) {
  TempDir dir;
  Gallery g(dir / "g.vlrg", kModelA);
  g.enroll("alice", {face(41)});
  const auto rev = g.revision();
  g.enroll_many({{"bob", {face(42), face(43)}}, {"carol", {face(44)}}, {"alice", {face(45)}}});
  EXPECT_EQ(g.revision(), rev + 1) << "one transaction, one revision";
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g.people()[0].num_faces, 2) << "alice got her second face";
  expect_close(g.templates()[1].embedding,
               normalised_mean({face(42).embedding, face(43).embedding}));
  // A bad face in the last person: nobody of the batch is written, and the message names them.
  auto bad = face(46);
  bad.aligned = synthetic_face(46, 100, 100);
  const std::string e1 = error_of([&] { g.enroll_many({{"dave", {face(47)}}, {"erin", {bad}}}); });
  EXPECT_CONTAINS(e1, "erin");
  EXPECT_CONTAINS(e1, "112x112");
  // A name twice in one batch, and a bad name: refused the same way.
  EXPECT_CONTAINS(error_of([&] {
                    g.enroll_many({{"dave", {face(47)}}, {"dave", {face(48)}}});
                  }),
                  "appears twice");
  EXPECT_CONTAINS(error_of([&] {
                    g.enroll_many({{"dave", {face(47)}}, {"a/b", {face(48)}}});
                  }),
                  "'a/b'");
  EXPECT_EQ(g.size(), 3u);
  EXPECT_FALSE(g.has_person("dave"));
  EXPECT_EQ(g.revision(), rev + 1);
  g.enroll_many({});  // nothing to do: no transaction
  EXPECT_EQ(g.revision(), rev + 1);
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
