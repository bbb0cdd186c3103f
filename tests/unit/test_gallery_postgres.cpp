// The gallery on PostgreSQL, against a real server started by the test (pg_cluster.hpp): the
// same operations as SQLite with the same results, copies both ways, the schema and model checks,
// two nodes following each other's changes within 2 s, a server restart, and the password kept
// out of every message. Synthetic embeddings and images: no model files.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "gallery_test_util.hpp"
#include "pg_cluster.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"

namespace vlrface {
namespace {

using namespace gallery_test;
using vlrtest::PgCluster;
using Clock = std::chrono::steady_clock;

// The same edits, applied to any gallery.
void edit(Gallery& g) {
  g.enroll("bob", {face(3)});
  g.enroll("alice", {face(1), face(2)});
  g.enroll("carol", {face(4)});
  g.enroll("alice", {face(5)});  // adds to alice
  g.rename_person("carol", "karl");
  g.enroll("dave", {face(6), face(7)});
  g.remove_person("bob");
}

// Polls `g` until it reports a change, for at most `limit`; returns how long it took.
std::optional<double> seconds_until_changed(Gallery& g, double limit = 2.0) {
  const auto t0 = Clock::now();
  for (;;) {
    if (g.refresh_if_changed()) return std::chrono::duration<double>(Clock::now() - t0).count();
    if (std::chrono::duration<double>(Clock::now() - t0).count() > limit) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<std::string> names(const Gallery& g) {
  std::vector<std::string> out;
  for (const auto& t : g.templates()) out.push_back(t.name);
  return out;
}

struct Cli {
  int status;
  std::string output;
};

Cli cli(const std::string& args) {
  const std::string cmd = std::string(VLRFACE_CLI) + " " + args + " 2>&1";
  Cli r{-1, {}};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(GalleryPostgres, SameOperationsAndResultsAsSqlite) {
  PgCluster pg;
  TempDir dir;
  Gallery lite(dir / "g.vlrg", kModelA);
  Gallery db(pg.url(), kModelA);
  edit(lite);
  edit(db);
  EXPECT_EQ(exact_state(db), exact_state(lite));
  EXPECT_EQ(names(db), (std::vector<std::string>{"alice", "dave", "karl"}));
  EXPECT_EQ(db.size(), 3u);
  EXPECT_TRUE(db.has_person("karl"));
  EXPECT_FALSE(db.has_person("bob"));
  const auto people = db.people();
  ASSERT_EQ(people.size(), 3u);
  EXPECT_EQ(people[0].num_faces, 3);
  expect_close(db.templates()[0].embedding,
               normalised_mean({face(1).embedding, face(2).embedding, face(5).embedding}));
  // The same errors.
  EXPECT_CONTAINS(error_of([&] { db.remove_person("nobody"); }), "no person named 'nobody'");
  EXPECT_CONTAINS(error_of([&] { db.rename_person("alice", "dave"); }), "already exists");
  EXPECT_CONTAINS(error_of([&] { db.enroll("eve", {face(8, 128)}); }), "128-value embedding");
  EXPECT_CONTAINS(error_of([&] { db.faces("nobody"); }), "no person named");
  EXPECT_EQ(exact_state(db), exact_state(lite));  // failed operations changed nothing

  // Export from one, import into the other kind: the same document both ways.
  std::ostringstream from_db, from_lite;
  db.export_json(from_db);
  lite.export_json(from_lite);
  EXPECT_EQ(from_db.str(), from_lite.str());
  pg.sql("CREATE DATABASE second");
  Gallery db2(pg.url("second"), kModelB, {}, GalleryOpen::kAllowModelMismatch);
  std::istringstream in(from_lite.str());
  const auto r = db2.import_json(in, "export.json", ".", [] { return FaceEmbedder(); });
  EXPECT_EQ(r.faces_added, 6);
  EXPECT_EQ(db2.model_id(), kModelA);
  EXPECT_EQ(exact_state(db2), exact_state(lite));
  std::istringstream again(from_lite.str());
  EXPECT_EQ(db2.import_json(again, "export.json", ".", [] { return FaceEmbedder(); }).faces_skipped,
            6);
  EXPECT_EQ(exact_state(db2), exact_state(lite));

  // Re-embedding on the server, from the stored images.
  int calls = 0;
  db.reembed(
      [&](const cv::Mat& img) {
        EXPECT_EQ(img.size(), cv::Size(112, 112));
        return random_embedding(500 + calls++, 64);
      },
      kModelB);
  EXPECT_EQ(calls, 6);
  EXPECT_EQ(db.model_id(), kModelB);
  EXPECT_EQ(db.templates()[0].embedding.size(), 64u);
  EXPECT_NO_THROW(Gallery(pg.url(), kModelB));
}

TEST(GalleryPostgres, CopyBetweenSqliteAndPostgresKeepsEverything) {
  PgCluster pg;
  TempDir dir;
  const fs::path file = dir / "g.vlrg";
  {
    Gallery g(file, kModelA);
    edit(g);
  }
  const std::string original = exact_state(Gallery(file, kModelA));
  EXPECT_EQ(copy_gallery(file.string(), pg.url()), 3);
  EXPECT_EQ(exact_state(Gallery(pg.url(), kModelA)), original);
  // Not into a gallery that has people.
  EXPECT_CONTAINS(error_of([&] { copy_gallery(file.string(), pg.url()); }), "already has 3 people");
  // And back, through the CLI, into a new file (owner-only), then a backup of the database.
  const fs::path back = dir / "back.vlrg";
  const auto r = cli("gallery copy '" + pg.url() + "' " + back.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_CONTAINS(r.output, "copied 3 people from postgresql://vlrtest@127.0.0.1:");
  EXPECT_EQ(exact_state(Gallery(back, kModelA)), original);
  EXPECT_EQ(mode_of(back), 0600u);
  const fs::path backup = dir / "backup.vlrg";
  Gallery(pg.url(), kModelA).backup(backup);
  EXPECT_EQ(exact_state(Gallery(backup, kModelA)), original);
  EXPECT_TRUE(check_gallery(backup).clean());
  // The CLI's other gallery commands take the URL as --gallery.
  const auto list = cli("--gallery '" + pg.url() + "' gallery list");
  ASSERT_EQ(list.status, 0) << list.output;
  EXPECT_CONTAINS(list.output, "3 people");
  EXPECT_CONTAINS(list.output, "karl");
  const auto rename = cli("--gallery '" + pg.url() + "' gallery rename karl carl");
  ASSERT_EQ(rename.status, 0) << rename.output;
  EXPECT_TRUE(Gallery(pg.url(), kModelA).has_person("carl"));
}

TEST(GalleryPostgres, SchemaVersionAndModelAreChecked) {
  PgCluster pg;
  {
    Gallery g(pg.url(), kModelA);
    g.enroll("alice", {face(1)});
  }
  // Created at this build's version, in its own schema.
  EXPECT_CONTAINS(error_of([&] { Gallery(pg.url(), kModelB); }),
                  std::string("made by embedding model '") + kModelA);
  EXPECT_EQ(Gallery(pg.url(), kModelB, {}, GalleryOpen::kAllowModelMismatch).model_id(), kModelA);
  // A database without a gallery is not created when asked not to.
  pg.sql("CREATE DATABASE empty");
  GallerySettings no_create;
  no_create.create_if_missing = false;
  EXPECT_CONTAINS(error_of([&] { Gallery(pg.url("empty"), kModelA, no_create); }),
                  "no vlrface gallery in this database");
  // A newer schema is refused, not misread.
  pg.sql("UPDATE vlrface.meta SET value = '99' WHERE key = 'schema_version'");
  EXPECT_CONTAINS(error_of([&] { Gallery(pg.url(), kModelA); }), "schema version 99 is newer");
  // Someone else's schema of the same name is not taken for a gallery.
  pg.sql(
      "UPDATE vlrface.meta SET value = '1' WHERE key = 'schema_version';"
      "UPDATE vlrface.meta SET value = 'other' WHERE key = 'format'");
  EXPECT_CONTAINS(error_of([&] { Gallery(pg.url(), kModelA); }), "is not a vlrface gallery");
}

TEST(GalleryPostgres, NodesStartingTogetherOnAnEmptyDatabaseAllOpenIt) {
  PgCluster pg;
  // Every node finds no schema and queues for the migration lock; the first creates it, the
  // others must see it and leave it alone.
  constexpr int kNodes = 6;
  std::vector<std::string> errors(kNodes);
  std::vector<std::thread> nodes;
  for (int i = 0; i < kNodes; ++i) {
    nodes.emplace_back([&, i] {
      try {
        Gallery g(pg.url(), kModelA);
        g.enroll("node" + std::to_string(i), {face(static_cast<unsigned>(i + 1))});
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : nodes) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(Gallery(pg.url(), kModelA).size(), static_cast<std::size_t>(kNodes));
}

TEST(GalleryPostgres, APasswordIsNeverShown) {
  PgCluster pg;
  const std::string secret = "Sup3rSecretPw";
  // Trust authentication ignores the password: the connection works and still never shows it.
  Gallery g(pg.url("vlrface", secret), kModelA);
  EXPECT_EQ(g.file().string(),
            "postgresql://vlrtest@127.0.0.1:" + std::to_string(pg.port()) + "/vlrface");
  g.enroll("alice", {face(1)});
  const std::string errors =
      error_of([&] { g.remove_person("nobody"); }) + error_of([&] {
        Gallery("postgresql://vlrtest:" + secret + "@127.0.0.1:1/vlrface?connect_timeout=2",
                kModelA);
      }) +
      error_of([&] {
        Gallery("postgresql://vlrtest:" + secret + "@127.0.0.1:5432/x?bogus=1", kModelA);
      });
  EXPECT_CONTAINS(errors, "postgresql://vlrtest@127.0.0.1:1/vlrface: cannot connect");
  EXPECT_CONTAINS(errors, "not a valid postgresql:// URI");
  EXPECT_EQ(errors.find(secret), std::string::npos) << errors;
  const auto r =
      cli("--gallery 'postgresql://vlrtest:" + secret + "@127.0.0.1:" + std::to_string(pg.port()) +
          "/vlrface?sslmode=disable' gallery list");
  EXPECT_EQ(r.status, 0) << "the CLI: ";
  EXPECT_CONTAINS(r.output, "alice");
  EXPECT_EQ(r.output.find(secret), std::string::npos) << r.output;
  const auto check = cli("--gallery 'postgresql://vlrtest:" + secret +
                         "@127.0.0.1:" + std::to_string(pg.port()) + "/vlrface' gallery check");
  EXPECT_EQ(check.status, 1) << check.output;
  EXPECT_CONTAINS(check.output, "`gallery check` reads SQLite files");
  EXPECT_EQ(check.output.find(secret), std::string::npos) << check.output;
  // sslmode comes through the URI: a server without TLS refuses sslmode=require, and says so.
  const std::string tls = error_of([&] {
    Gallery("postgresql://vlrtest:" + secret + "@127.0.0.1:" + std::to_string(pg.port()) +
                "/vlrface?sslmode=require",
            kModelA);
  });
  EXPECT_CONTAINS(tls, "SSL");
  EXPECT_EQ(tls.find(secret), std::string::npos) << tls;
}

TEST(GalleryPostgres, TwoNodesFollowEachOtherWithinTwoSeconds) {
  PgCluster pg;
  Gallery a(pg.url(), kModelA);          // one node enrols...
  Gallery b(pg.url(), kModelA);          // ...another keeps its own matcher and follows
  EXPECT_FALSE(b.refresh_if_changed());  // starts listening; nothing new yet
  const auto r0 = b.revision();
  a.enroll("alice", {face(1)});
  const auto seen = seconds_until_changed(b);
  ASSERT_TRUE(seen.has_value()) << "an enrolment on one node was not seen on the other in 2 s";
  EXPECT_LT(*seen, 2.0);
  EXPECT_EQ(names(b), std::vector<std::string>{"alice"});
  EXPECT_GT(b.revision(), r0);
  EXPECT_FALSE(b.refresh_if_changed());  // reported once
  // A change made by another process (the CLI) reaches it too: removed there, gone here.
  a.enroll("bob", {face(2)});
  ASSERT_TRUE(seconds_until_changed(b).has_value());
  const auto removed = cli("--gallery '" + pg.url() + "' gallery remove alice");
  ASSERT_EQ(removed.status, 0) << removed.output;
  ASSERT_TRUE(seconds_until_changed(b).has_value())
      << "a removal by another process was not seen in 2 s";
  EXPECT_EQ(names(b), std::vector<std::string>{"bob"});
  // A node's own changes are no news to itself.
  b.enroll("carol", {face(3)});
  EXPECT_FALSE(seconds_until_changed(b, 0.5).has_value());
  ASSERT_TRUE(seconds_until_changed(a).has_value());  // but they are to the other
  EXPECT_EQ(names(a), (std::vector<std::string>{"bob", "carol"}));
}

TEST(GalleryPostgres, NodesRecoverFromADatabaseRestartAndCatchUp) {
  PgCluster pg;
  Gallery a(pg.url(), kModelA);
  Gallery b(pg.url(), kModelA);
  a.enroll("alice", {face(1)});
  EXPECT_TRUE(b.refresh_if_changed());  // first call: compares revisions
  pg.stop();
  // While the server is down: a clear error, no crash, and no false news. The socket may still
  // look open for the first poll after the server went (libpq sees the close on the next read),
  // so the error has a few polls to appear -- serve polls every second.
  std::string down;
  for (int i = 0; i < 30 && down.empty(); ++i) {
    try {
      EXPECT_FALSE(b.refresh_if_changed()) << "no change was made: no news";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } catch (const vlrface::Error& e) {
      down = e.what();
    }
  }
  EXPECT_CONTAINS(down, "cannot be reached");
  EXPECT_CONTAINS(error_of([&] { a.enroll("bob", {face(2)}); }), "cannot be reached");
  pg.start();
  // a reconnects on its next use; b was "offline" while a enrolled bob...
  a.enroll("bob", {face(2)});
  // ...and catches up when it reconnects, without having seen the notification.
  const auto seen = seconds_until_changed(b);
  ASSERT_TRUE(seen.has_value()) << "a node that was offline did not catch up in 2 s";
  EXPECT_EQ(names(b), (std::vector<std::string>{"alice", "bob"}));
  // And it keeps following afterwards.
  a.remove_person("alice");
  ASSERT_TRUE(seconds_until_changed(b).has_value());
  EXPECT_EQ(names(b), std::vector<std::string>{"bob"});
}

}  // namespace
}  // namespace vlrface
