// The PostgreSQL backend of the gallery: one database shared by several nodes (cameras). The rows
// are the SQLite gallery's (float32 little-endian embeddings, JPEG images, CRC-32 beside each), in
// the schema `vlrface`, versioned in vlrface.meta and migrated step by step under an advisory lock.
// Every change increments vlrface.meta's revision and sends NOTIFY vlrface_gallery with it, so a
// node that LISTENs learns of it at once, and a node that was offline sees a revision it has not
// seen when it reconnects.
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "gallery_check.hpp"
#include "gallery_common.hpp"
#include "gallery_pg_schema.hpp"
#include "gallery_pg_session.hpp"
#include "gallery_pg_wire.hpp"
#include "gallery_store.hpp"
#include "vlrface/error.hpp"

namespace vlrface::detail {
namespace {

namespace fs = std::filesystem;
using pg::ConnectionLost;
using pg::Params;
using pg::Result;
using pg::Session;

constexpr const char* kChannel = "vlrface_gallery";

class PostgresStore final : public GalleryStore {
 public:
  PostgresStore(std::string url, const GallerySettings& settings)
      : db_(std::move(url)), settings_(settings) {}

  void open(const std::string& build_model_id) {
    db_.connect();
    pg::migrate(db_, build_model_id, settings_.create_if_missing);
    read_state();
  }

  const fs::path& where() const override { return db_.where(); }
  std::string model_id() const override { return model_id_; }

  InsertCount insert(const std::vector<NewPerson>& people, const InsertOptions& o) override {
    InsertCount count;
    bool model_changed = false;
    write([&](std::int64_t) {
      count = {};
      const std::string stored = db_.meta("model_id");
      model_changed = stored != o.model_id;
      if (model_changed) {
        if (!o.adopt_model_if_empty || count_people() != 0) {
          fail("cannot add faces of model '" + printable(o.model_id) +
               "': it holds embeddings of '" + printable(stored) +
               "'; re-embed it first with `vlrface gallery reembed`");
        }
        db_.exec("UPDATE vlrface.meta SET value = $1 WHERE key = 'model_id'",
             Params().text(o.model_id));
      }
      std::set<std::string> known;
      if (o.skip_known_faces) {
        Result r = db_.exec("SELECT embedding FROM vlrface.faces", {});
        for (int i = 0; i < r.rows(); ++i) known.emplace(r.bytes(i, 0));
      }
      const InsertPlan plan =
          plan_insert(people, stored_dims(), std::move(known), o.skip_known_faces);
      if (!plan.problem.empty()) fail(plan.problem);
      count.faces_skipped = plan.faces_skipped;
      for (const InsertPlan::Person& p : plan.people) {
        auto id = person_id(p.person->name);
        const bool existed = id.has_value();
        if (!id) {
          Result r = db_.exec(
              "INSERT INTO vlrface.people(name, template, template_crc) VALUES ($1, '', 0) "
              "RETURNING id",
              Params().text(p.person->name));
          id = r.i8(0, 0);
        }
        for (const auto& [f, embedding] : p.faces) {
          db_.exec(
              "INSERT INTO vlrface.faces(person_id, image, embedding, source, embedding_crc, "
              "image_crc) VALUES ($1, $2, $3, $4, $5, $6)",
              Params()
                  .i8(*id)
                  .bytes(f->jpeg)
                  .bytes(embedding)
                  .text(f->source)
                  .i8(crc_of(embedding))
                  .i8(crc_of(f->jpeg)));
        }
        update_template(*id);
        count.faces_added += static_cast<int>(p.faces.size());
        ++(existed ? count.people_extended : count.people_created);
      }
      // Nothing new: rolled back, so the revision stays and no node reloads for nothing.
      return count.faces_added > 0 || model_changed;
    });
    model_id_ = o.model_id;
    return count;
  }

  bool remove_person(const std::string& name) override {
    bool removed = false;
    write([&](std::int64_t) {
      Result r =
          db_.exec("DELETE FROM vlrface.people WHERE name = $1 RETURNING id", Params().text(name));
      removed = r.rows() > 0;
      return removed;
    });
    return removed;
  }

  void rename_person(const std::string& from, const std::string& to) override {
    write([&](std::int64_t) {
      const auto id = person_id(from);
      if (!id) fail("cannot rename: no person named '" + printable(from) + "'");
      if (from == to) return false;
      if (person_id(to)) {
        fail("cannot rename '" + printable(from) + "': a person named '" + printable(to) +
             "' already exists");
      }
      db_.exec("UPDATE vlrface.people SET name = $1 WHERE id = $2", Params().text(to).i8(*id));
      return true;
    });
  }

  bool has_person(const std::string& name) override {
    bool found = false;
    db_.read([&] { found = person_id(name).has_value(); });
    return found;
  }

  std::vector<PersonInfo> people() override {
    std::vector<PersonInfo> out;
    db_.read([&] {
      out.clear();
      Result r = db_.exec(
          "SELECT p.id, p.name, (SELECT count(*) FROM vlrface.faces f WHERE f.person_id = p.id) "
          "FROM vlrface.people p ORDER BY p.name COLLATE \"C\"",
          {});
      for (int i = 0; i < r.rows(); ++i) {
        out.push_back({r.i8(i, 0), r.text(i, 1), static_cast<int>(r.i8(i, 2))});
      }
    });
    return out;
  }

  void for_each_template(const std::function<void(PersonTemplate&&)>& f) override {
    // Through a cursor, a batch at a time: a node loading a large gallery never holds all of its
    // rows twice. `f` runs inside the read; db_.read() retries only before it has started.
    db_.read([&] {
      std::optional<std::size_t> dims;
      db_.each_row(
          "SELECT name, template, template_crc FROM vlrface.people ORDER BY name COLLATE \"C\"",
          [&](const Result& r, int i) {
            PersonTemplate t = template_row(r, i);
            if (dims && t.embedding.size() != *dims) {
              damaged("the template of '" + printable(t.name) + "' has " +
                      std::to_string(t.embedding.size()) + " values, the others " +
                      std::to_string(*dims));
            }
            dims = t.embedding.size();
            f(std::move(t));
          });
    });
  }

  std::vector<TemplateVersion> template_versions() override {
    std::vector<TemplateVersion> out;
    db_.read([&] {
      out.clear();
      db_.each_row("SELECT name, template_crc FROM vlrface.people ORDER BY name COLLATE \"C\"",
               [&](const Result& r, int i) { out.push_back({r.text(i, 0), r.i8(i, 1)}); },
               10000);  // names and integers: ~0.3 MB a batch
    });
    return out;
  }

  void for_each_template_of(const std::vector<std::string>& names,
                            const std::function<void(PersonTemplate&&)>& f) override {
    db_.read([&] {  // one snapshot: the templates of one moment
      for (const auto& name : names) {
        Result r = db_.exec("SELECT name, template, template_crc FROM vlrface.people WHERE name = $1",
                        Params().text(name));
        if (r.rows() > 0) f(template_row(r, 0));
      }
    });
  }

  std::optional<std::vector<StoredRow>> faces(const std::string& name) override {
    std::optional<std::vector<StoredRow>> out;
    db_.read([&] {
      out.reset();
      const auto id = person_id(name);
      if (id) out = face_rows(*id, "'" + printable(name) + "'");
    });
    return out;
  }

  std::size_t size() override {
    std::size_t n = 0;
    db_.read([&] { n = static_cast<std::size_t>(count_people()); });
    return n;
  }

  void for_each_person(const std::function<void(PersonRecord&&)>& f) override {
    // One person at a time from a cursor (export and copy of a large gallery stay small).
    db_.read([&] {
      db_.each_row(
          "SELECT id, name, template, template_crc FROM vlrface.people ORDER BY name COLLATE \"C\"",
          [&](const Result& r, int i) {
            PersonRecord p;
            p.name = r.text(i, 1);
            const std::string who = "'" + printable(p.name) + "'";
            p.template_embedding =
                embedding(verified(r, i, 2, 3, "the template of " + who), "a template");
            p.faces = face_rows(r.i8(i, 0), who);
            f(std::move(p));
          });
    });
  }

  void replace_embeddings(const std::vector<std::pair<std::int64_t, std::vector<float>>>& by_id,
                          const std::string& new_model_id) override {
    write([&](std::int64_t) {
      std::vector<std::int64_t> ids, given;
      Result r = db_.exec("SELECT id FROM vlrface.faces ORDER BY id", {});
      for (int i = 0; i < r.rows(); ++i) ids.push_back(r.i8(i, 0));
      for (const auto& [id, e] : by_id) given.push_back(id);
      std::sort(given.begin(), given.end());
      if (given != ids) {
        fail("cannot re-embed: the gallery changed while its faces were embedded; run it again");
      }
      for (const auto& [id, e] : by_id) {
        const std::string blob = to_blob(e);
        db_.exec("UPDATE vlrface.faces SET embedding = $1, embedding_crc = $2 WHERE id = $3",
             Params().bytes(blob).i8(crc_of(blob)).i8(id));
      }
      Result people = db_.exec("SELECT id FROM vlrface.people", {});
      for (int i = 0; i < people.rows(); ++i) update_template(people.i8(i, 0));
      db_.exec("UPDATE vlrface.meta SET value = $1 WHERE key = 'model_id'",
           Params().text(new_model_id));
      return true;
    });
    model_id_ = new_model_id;
  }

  bool refresh_if_changed() override {
    if (db_.listening() && db_.connected()) {
      if (const auto notified = db_.take_notifications()) return *notified && revision_moved();
    }
    // First call, or the server went away: (re)connect, listen, and compare revisions, which
    // also catches whatever changed while this node was not listening.
    if (!db_.connected()) db_.reconnect();
    db_.listen(kChannel);
    return revision_moved();
  }

  std::int64_t revision() override {
    std::int64_t rev = 0;
    db_.read([&] { rev = db_.meta_int("revision"); });
    return rev;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { db_.fail(what); }
  [[noreturn]] void damaged(const std::string& what) const {
    fail("damaged: " + what + " (run 'vlrface gallery check' to see who is still readable)");
  }

  bool revision_moved() {
    std::int64_t rev = 0;
    std::string model;
    db_.read([&] {
      rev = db_.meta_int("revision");
      model = db_.meta("model_id");
      pg::check_schema_version(db_, db_.meta_int("schema_version"));
    });
    if (!model.empty()) model_id_ = model;
    if (rev == revision_) return false;
    revision_ = rev;
    return true;
  }

  // Runs `f` in a write transaction holding the gallery's write lock (the revision row), with
  // the revision it will have; commits, increments the revision and notifies when `f` returns
  // true, rolls back otherwise.
  void write(const std::function<bool(std::int64_t)>& f) {
    std::int64_t rev = 0;
    const bool committed = db_.run("BEGIN", [&] {
      Result r = db_.exec(
          "UPDATE vlrface.meta SET value = (value::bigint + 1)::text WHERE key = 'revision' "
          "RETURNING value::bigint",
          {});
      if (r.rows() != 1) fail("is damaged (no revision in vlrface.meta)");
      rev = r.i8(0, 0);
      if (!f(rev)) return false;
      db_.exec("SELECT pg_notify($1, $2)", Params().text(kChannel).text(std::to_string(rev)));
      return true;
    });
    // Our own change is no news to this object, unless someone else's came in between.
    if (committed && rev == revision_ + 1) revision_ = rev;
  }

  void read_state() {
    db_.read([&] {
      pg::check_format(db_);
      model_id_ = db_.meta("model_id");
      revision_ = db_.meta_int("revision");
    });
    if (model_id_.empty()) fail("is not a vlrface gallery (no model_id)");
  }

  std::int64_t count_people() {
    Result r = db_.exec("SELECT count(*) FROM vlrface.people", {});
    return r.i8(0, 0);
  }

  std::optional<std::int64_t> person_id(const std::string& name) {
    Result r = db_.exec("SELECT id FROM vlrface.people WHERE name = $1", Params().text(name));
    if (r.rows() == 0) return std::nullopt;
    return r.i8(0, 0);
  }

  std::optional<std::size_t> stored_dims() {
    Result r = db_.exec("SELECT length(embedding)::bigint FROM vlrface.faces LIMIT 1", {});
    if (r.rows() == 0) return std::nullopt;
    return static_cast<std::size_t>(r.i8(0, 0)) / 4;
  }

  // Row `i` of (name, template, template_crc), checked against its checksum.
  PersonTemplate template_row(const Result& r, int i) const {
    std::string name = r.text(i, 0);
    const std::string what = "the template of '" + printable(name) + "'";
    auto t = embedding(verified(r, i, 1, 2, what), what);
    return {std::move(name), std::move(t), r.i8(i, 2)};
  }

  std::string_view verified(const Result& r, int row, int col, int crc_col,
                            const std::string& what) const {
    const std::string_view bytes = r.bytes(row, col);
    if (r.null(row, crc_col) || r.i8(row, crc_col) != crc_of(bytes)) {
      damaged(what + " fails its checksum");
    }
    return bytes;
  }

  std::vector<float> embedding(std::string_view blob, const std::string& what) const {
    auto v = from_blob(blob);
    if (!v) fail("is damaged (" + what + " has " + std::to_string(blob.size()) + " bytes)");
    return std::move(*v);
  }

  std::vector<StoredRow> face_rows(std::int64_t person, const std::string& who) {
    Result r = db_.exec(
        "SELECT id, source, embedding, image, embedding_crc, image_crc FROM vlrface.faces "
        "WHERE person_id = $1 ORDER BY id",
        Params().i8(person));
    std::vector<StoredRow> out;
    for (int i = 0; i < r.rows(); ++i) {
      StoredRow row;
      row.id = r.i8(i, 0);
      row.source = r.text(i, 1);
      const std::string what = "face #" + std::to_string(row.id) + " of " + who;
      row.embedding =
          embedding(verified(r, i, 2, 4, "the embedding of " + what), "the embedding of " + what);
      row.jpeg = std::string(verified(r, i, 3, 5, "the image of " + what));
      out.push_back(std::move(row));
    }
    return out;
  }

  void update_template(std::int64_t id) {
    Result r = db_.exec(
        "SELECT id, embedding, embedding_crc FROM vlrface.faces WHERE person_id = $1 ORDER BY id",
        Params().i8(id));
    std::vector<std::vector<float>> embeddings;
    for (int i = 0; i < r.rows(); ++i) {
      const std::string what = "the embedding of face #" + std::to_string(r.i8(i, 0));
      embeddings.push_back(embedding(verified(r, i, 1, 2, what), what));
    }
    const auto t = mean_template(embeddings);
    if (!t) fail("is damaged (an embedding of person #" + std::to_string(id) + " is invalid)");
    const std::string blob = to_blob(*t);
    db_.exec("UPDATE vlrface.people SET template = $1, template_crc = $2 WHERE id = $3",
         Params().bytes(blob).i8(crc_of(blob)).i8(id));
  }

  Session db_;
  GallerySettings settings_;
  std::string model_id_;
  std::int64_t revision_ = 0;  // the revision this object last knew of
};

}  // namespace

std::unique_ptr<GalleryStore> open_postgres_store(const std::string& url,
                                                  const std::string& build_model_id,
                                                  const GallerySettings& settings) {
  auto store = std::make_unique<PostgresStore>(url, settings);
  store->open(build_model_id);
  return store;
}

}  // namespace vlrface::detail
