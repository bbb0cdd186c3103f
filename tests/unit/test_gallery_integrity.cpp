// Unit tests of the gallery's integrity: damage is reported, never silent; check, backup, schema
// upgrade, secure delete.
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
#include "test_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"
#include "vlrface/image_io.hpp"

namespace vlrface {
namespace {

using namespace gallery_test;

// --- damage ------------------------------------------------------------------------------------

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
  // What version 1 wrote: the same tables without the checksum columns (nor the index of
  // names and template checksums); and a person removed the way version 1 did, by an SQLite
  // built without secure_delete: their bytes stay behind.
  raw_sql(file,
          "DROP INDEX people_versions;"
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


}  // namespace
}  // namespace vlrface
