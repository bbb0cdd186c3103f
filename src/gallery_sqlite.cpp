// The SQLite backend of the gallery: one file, created owner-only, checked when opened (structure
// and every row's CRC-32), schema 1 upgraded in place; SQLite's locking lets several processes use
// it at once.
#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "gallery_check.hpp"
#include "gallery_common.hpp"
#include "gallery_sqlite_db.hpp"
#include "gallery_sqlite_schema.hpp"
#include "gallery_store.hpp"
#include "vlrface/error.hpp"

namespace vlrface::detail {
namespace {

namespace fs = std::filesystem;
using sqlite::exec_sql;
using sqlite::sqlite_fail;
using sqlite::Statement;
using sqlite::Transaction;

using sqlite::kBusyTimeoutMs;
constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

class SqliteStore final : public GalleryStore {
 public:
  explicit SqliteStore(const fs::path& file) : file_(file) {}
  ~SqliteStore() override { sqlite3_close_v2(db_); }

  void open(const std::string& build_model_id, const GallerySettings& settings) {
    const bool created = sqlite::create_or_check_file(file_, settings.create_if_missing);
    try {
      // No SQLITE_OPEN_CREATE: the file exists by now, and SQLite must not create one with 0644.
      const int rc = sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr);
      if (rc != SQLITE_OK) sqlite_fail(db_, file_, "opening", rc);
      sqlite3_busy_timeout(db_, kBusyTimeoutMs);
      exec("PRAGMA foreign_keys = ON");
      // A removed person's images and embeddings are overwritten with zeros, not merely marked
      // free: without it their bytes stay readable in the file's free pages.
      exec("PRAGMA secure_delete = ON");
      if (created) {
        sqlite::create_schema(db_, file_, build_model_id);
        model_id_ = build_model_id;
      } else {
        const sqlite::ExistingSchema existing = sqlite::check_existing(db_, file_);
        model_id_ = existing.model_id;
        if (existing.version < kGallerySchemaVersion) sqlite::upgrade_from_1(db_, file_);
      }
      // Names and template versions without the templates (template_versions(): what a
      // follower reads after every change). Without it each row's template, stored before the
      // checksum, is read to reach the checksum: 0.29 s against 0.04 s at 100,000 people.
      // Galleries made before it get it here; older builds ignore it. Only an optimisation:
      // a gallery that cannot be written (read-only file or medium) opens without it.
      sqlite3_exec(db_, "CREATE INDEX IF NOT EXISTS people_versions ON people(name, template_crc)",
                   nullptr, nullptr, nullptr);
      data_version_ = pragma("data_version");
      revision_ = read_revision();
    } catch (...) {
      if (created) {
        // Only a file made by this constructor is removed; existing files are never touched.
        sqlite3_close_v2(db_);
        db_ = nullptr;
        std::error_code ec;
        fs::remove(file_, ec);
      }
      throw;
    }
  }

  const fs::path& where() const override { return file_; }
  std::string model_id() const override { return model_id_; }
  sqlite3* db() const { return db_; }

  InsertCount insert(const std::vector<NewPerson>& people, const InsertOptions& o) override {
    Transaction t(db_, file_, true);
    InsertCount count;
    const std::string stored_model = meta_value("model_id");
    if (stored_model != o.model_id) {
      if (!o.adopt_model_if_empty || count_people() != 0) {
        fail("cannot add faces of model '" + printable(o.model_id) + "': it holds embeddings of '" +
             printable(stored_model) + "'; re-embed it first with `vlrface gallery reembed`");
      }
      Statement put = sql("UPDATE meta SET value = ? WHERE key = 'model_id'");
      put.bind(1, o.model_id).step();
    }
    std::set<std::string> known;
    if (o.skip_known_faces) {
      Statement q = sql("SELECT embedding FROM faces");
      while (q.step()) known.emplace(q.blob(0));
    }
    const InsertPlan plan =
        plan_insert(people, stored_dims(), std::move(known), o.skip_known_faces);
    if (!plan.problem.empty()) fail(plan.problem);
    count.faces_skipped = plan.faces_skipped;
    Statement put = sql(std::string("INSERT INTO faces(person_id, image, embedding, source, "
                                    "created_at, embedding_crc, image_crc) VALUES (?, ?, ?, ?, ") +
                        kNow + ", ?, ?)");
    for (const InsertPlan::Person& p : plan.people) {
      auto id = person_id(p.person->name);
      const bool existed = id.has_value();
      if (!id) {
        Statement add = sql(std::string("INSERT INTO people(name, template, created_at) "
                                        "VALUES (?, x'', ") +
                            kNow + ")");
        add.bind(1, p.person->name).step();
        id = sqlite3_last_insert_rowid(db_);
      }
      for (const auto& [f, embedding] : p.faces) {
        put.reset()
            .bind(1, *id)
            .bind_blob(2, f->jpeg)
            .bind_blob(3, embedding)
            .bind(4, f->source)
            .bind(5, crc_of(embedding))
            .bind(6, crc_of(f->jpeg))
            .step();
      }
      update_template(*id);
      count.faces_added += static_cast<int>(p.faces.size());
      ++(existed ? count.people_extended : count.people_created);
    }
    if (count.faces_added > 0 || stored_model != o.model_id) bump_revision();
    t.commit();
    model_id_ = o.model_id;
    return count;
  }

  bool remove_person(const std::string& name) override {
    Transaction t(db_, file_, true);
    Statement del = sql("DELETE FROM people WHERE name = ?");  // faces go by ON DELETE CASCADE
    del.bind(1, name).step();
    if (sqlite3_changes(db_) == 0) return false;
    bump_revision();
    t.commit();
    return true;
  }

  void rename_person(const std::string& from, const std::string& to) override {
    Transaction t(db_, file_, true);
    const auto id = person_id(from);
    if (!id) fail("cannot rename: no person named '" + printable(from) + "'");
    if (from == to) return;
    if (person_id(to)) {
      fail("cannot rename '" + printable(from) + "': a person named '" + printable(to) +
           "' already exists");
    }
    Statement put = sql("UPDATE people SET name = ? WHERE id = ?");
    put.bind(1, to).bind(2, *id).step();
    bump_revision();
    t.commit();
  }

  bool has_person(const std::string& name) override { return person_id(name).has_value(); }

  std::vector<PersonInfo> people() override {
    Statement q =
        sql("SELECT p.id, p.name, (SELECT count(*) FROM faces f WHERE f.person_id = p.id) "
            "FROM people p ORDER BY p.name");
    std::vector<PersonInfo> out;
    while (q.step()) out.push_back({q.integer(0), q.text(1), static_cast<int>(q.integer(2))});
    return out;
  }

  void for_each_template(const std::function<void(PersonTemplate&&)>& f) override {
    Statement q = sql("SELECT name, template, template_crc FROM people ORDER BY name");
    std::optional<std::size_t> dims;
    while (q.step()) {
      PersonTemplate t = template_row(q);
      if (dims && t.embedding.size() != *dims) {
        damaged("the template of '" + printable(t.name) + "' has " +
                std::to_string(t.embedding.size()) + " values, the others " +
                std::to_string(*dims));
      }
      dims = t.embedding.size();
      f(std::move(t));
    }
  }

  std::vector<TemplateVersion> template_versions() override {
    Statement q = sql("SELECT name, template_crc FROM people ORDER BY name");
    std::vector<TemplateVersion> out;
    while (q.step()) out.push_back({q.text(0), q.integer(1)});
    return out;
  }

  void for_each_template_of(const std::vector<std::string>& names,
                            const std::function<void(PersonTemplate&&)>& f) override {
    Transaction t(db_, file_, false);  // the templates of one moment
    Statement q = sql("SELECT name, template, template_crc FROM people WHERE name = ?");
    for (const auto& name : names) {
      q.reset();
      q.bind(1, name);
      if (q.step()) f(template_row(q));
    }
    t.commit();
  }

  std::optional<std::vector<StoredRow>> faces(const std::string& name) override {
    Transaction t(db_, file_, false);  // one snapshot for both queries
    const auto id = person_id(name);
    if (!id) return std::nullopt;
    auto out = face_rows(*id, "'" + printable(name) + "'");
    t.commit();
    return out;
  }

  std::size_t size() override { return static_cast<std::size_t>(count_people()); }

  void for_each_person(const std::function<void(PersonRecord&&)>& f) override {
    Transaction t(db_, file_, false);  // one consistent snapshot
    Statement people = sql("SELECT id, name, template, template_crc FROM people ORDER BY name");
    while (people.step()) {
      PersonRecord r;
      r.name = people.text(1);
      const std::string who = "'" + printable(r.name) + "'";
      r.template_embedding =
          decode_embedding(verified(people, 2, 3, "the template of " + who), "a template");
      r.faces = face_rows(people.integer(0), who);
      f(std::move(r));
    }
    t.commit();
  }

  void replace_embeddings(const std::vector<std::pair<std::int64_t, std::vector<float>>>& by_id,
                          const std::string& new_model_id) override {
    Transaction t(db_, file_, true);
    std::vector<std::int64_t> ids;
    {
      Statement q = sql("SELECT id FROM faces ORDER BY id");
      while (q.step()) ids.push_back(q.integer(0));
    }
    std::vector<std::int64_t> given;
    for (const auto& [id, e] : by_id) given.push_back(id);
    std::sort(given.begin(), given.end());
    if (given != ids) {
      fail("cannot re-embed: the gallery changed while its faces were embedded; run it again");
    }
    Statement put = sql("UPDATE faces SET embedding = ?, embedding_crc = ? WHERE id = ?");
    for (const auto& [id, e] : by_id) {
      const std::string blob = to_blob(e);
      put.reset().bind_blob(1, blob).bind(2, crc_of(blob)).bind(3, id).step();
    }
    std::vector<std::int64_t> people;
    {
      Statement q = sql("SELECT id FROM people");
      while (q.step()) people.push_back(q.integer(0));
    }
    for (const std::int64_t id : people) update_template(id);
    Statement meta = sql("UPDATE meta SET value = ? WHERE key = 'model_id'");
    meta.bind(1, new_model_id).step();
    bump_revision();
    t.commit();
    model_id_ = new_model_id;
  }

  bool refresh_if_changed() override {
    const std::int64_t version = pragma("data_version");
    if (version == data_version_) return false;
    data_version_ = version;
    // The other process may have re-embedded the gallery, or a newer vlrface upgraded it.
    std::map<std::string, std::string> meta;
    Statement q = sql("SELECT key, value FROM meta WHERE key IN ('model_id', 'schema_version')");
    while (q.step()) meta[q.text(0)] = q.text(1);
    const std::string& v = meta["schema_version"];
    std::int64_t schema = 0;
    std::from_chars(v.data(), v.data() + v.size(), schema);
    sqlite::check_schema_version(file_, schema);
    if (!meta["model_id"].empty()) model_id_ = meta["model_id"];
    revision_ = read_revision();
    return true;
  }

  std::int64_t revision() override { return read_revision(); }

 private:
  Statement sql(std::string_view query) { return Statement(db_, file_, query); }
  // A row of (name, template, template_crc), checked against its checksum.
  PersonTemplate template_row(const Statement& q) const {
    std::string name = q.text(0);
    const std::string what = "the template of '" + printable(name) + "'";
    auto t = decode_embedding(verified(q, 1, 2, what), what);
    return {std::move(name), std::move(t), q.integer(2)};
  }
  void exec(const std::string& query) { exec_sql(db_, file_, query.c_str()); }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("gallery", file_.string() + ": " + what);
  }
  // Damage found: the message says how much is still readable and what to do.
  [[noreturn]] void damaged(const std::string& what) const {
    fail("damaged: " + what + " (" + readable_summary(db_) + ")");
  }

  // The blob in column `col` of `q`, after checking it against the CRC-32 in column `crc_col`.
  std::string_view verified(const Statement& q, int col, int crc_col,
                            const std::string& what) const {
    const std::string_view bytes = q.blob(col);
    if (q.type(crc_col) != SQLITE_INTEGER || q.integer(crc_col) != crc_of(bytes)) {
      damaged(what + " fails its checksum");
    }
    return bytes;
  }

  std::vector<float> decode_embedding(std::string_view blob, const std::string& what) const {
    auto v = from_blob(blob);
    if (!v) fail("is damaged (" + what + " has " + std::to_string(blob.size()) + " bytes)");
    return std::move(*v);
  }

  std::vector<StoredRow> face_rows(std::int64_t person, const std::string& who) {
    Statement q =
        sql("SELECT id, source, embedding, image, embedding_crc, image_crc FROM faces "
            "WHERE person_id = ? ORDER BY id");
    q.bind(1, person);
    std::vector<StoredRow> out;
    while (q.step()) {
      StoredRow r;
      r.id = q.integer(0);
      r.source = q.text(1);
      const std::string what = "face #" + std::to_string(r.id) + " of " + who;
      r.embedding = decode_embedding(verified(q, 2, 4, "the embedding of " + what),
                                     "the embedding of " + what);
      r.jpeg = std::string(verified(q, 3, 5, "the image of " + what));
      out.push_back(std::move(r));
    }
    return out;
  }

  std::int64_t pragma(const char* name) { return sqlite::pragma(db_, file_, name); }

  std::string meta_value(const char* key) {
    Statement q = sql("SELECT value FROM meta WHERE key = ?");
    q.bind(1, std::string_view(key));
    return q.step() ? q.text(0) : std::string();
  }

  std::int64_t count_people() {
    Statement q = sql("SELECT count(*) FROM people");
    return q.step() ? q.integer(0) : 0;
  }

  // A counter every change made by vlrface increments (a meta row; absent in galleries written
  // before it existed: 0).
  std::int64_t read_revision() {
    const std::string v = meta_value("revision");
    std::int64_t r = 0;
    std::from_chars(v.data(), v.data() + v.size(), r);
    return r;
  }
  void bump_revision() {
    exec(
        "INSERT INTO meta(key, value) VALUES ('revision', '1') ON CONFLICT(key) DO UPDATE "
        "SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)");
  }

  std::optional<std::int64_t> person_id(const std::string& name) {
    Statement q = sql("SELECT id FROM people WHERE name = ?");
    q.bind(1, name);
    if (!q.step()) return std::nullopt;
    return q.integer(0);
  }

  std::optional<std::size_t> stored_dims() {
    Statement q = sql("SELECT length(embedding) FROM faces LIMIT 1");
    if (!q.step()) return std::nullopt;
    return static_cast<std::size_t>(q.integer(0)) / 4;
  }

  // Must run inside a write transaction.
  void update_template(std::int64_t id) {
    std::vector<std::vector<float>> embeddings;
    Statement q = sql("SELECT id, embedding, embedding_crc FROM faces WHERE person_id = ?");
    q.bind(1, id);
    while (q.step()) {
      const std::string what = "the embedding of face #" + std::to_string(q.integer(0));
      embeddings.push_back(decode_embedding(verified(q, 1, 2, what), what));
    }
    const auto t = mean_template(embeddings);
    if (!t) fail("is damaged (an embedding of person #" + std::to_string(id) + " is invalid)");
    const std::string blob = to_blob(*t);
    Statement put = sql("UPDATE people SET template = ?, template_crc = ? WHERE id = ?");
    put.bind_blob(1, blob).bind(2, crc_of(blob)).bind(3, id).step();
  }

  fs::path file_;
  std::string model_id_;  // the model of the stored embeddings
  sqlite3* db_ = nullptr;
  std::int64_t data_version_ = 0;  // PRAGMA data_version when refresh_if_changed() last looked
  std::int64_t revision_ = 0;
};

}  // namespace

std::unique_ptr<GalleryStore> open_sqlite_store(const fs::path& file,
                                                const std::string& build_model_id,
                                                const GallerySettings& settings) {
  auto store = std::make_unique<SqliteStore>(file);
  store->open(build_model_id, settings);
  return store;
}

bool sqlite_backup(GalleryStore& store, const fs::path& out) {
  auto* s = dynamic_cast<SqliteStore*>(&store);
  if (s == nullptr) return false;
  sqlite::backup_database(s->db(), s->where(), out);
  return true;
}

}  // namespace vlrface::detail
