// vlrface/matcher_sync.hpp — keeps a Matcher in step with a gallery, reading only what changed.
//
// Usage (a holder of templates that follows a gallery, e.g. the live engine):
//   vlrface::MatcherSync sync;
//   auto u = sync.update(gallery);   // first call: every template; later: only the changes
//   serve_with(u.matcher);            // a new immutable matcher; the old one stays valid
//
// Why: `serve` reloads its templates after every change to the gallery (its own, another
// process's, another node's). Read whole, that is 3 s at 100,000 people from SQLite
// (docs/BENCHMARKS.md), for one enrolment. update() instead reads every person's template
// version (a checksum kept beside each template: names and integers only), copies the current
// matcher and applies the difference with Matcher::add/remove, so a change costs what it changes
// plus one pass over the names and one copy of the matrix.
// Contract: after update(g), matcher() answers exactly as a Matcher built from all of g's
// templates at that moment would (row order aside, which answers do not depend on). A person
// changed or removed between the two reads is corrected by the next update(). More than half of
// the people changed (a re-embedding, another gallery): read whole.
// Thread safety: none; one caller at a time. The matchers it returns are immutable and shared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "vlrface/gallery.hpp"
#include "vlrface/match.hpp"

namespace vlrface {

class MatcherSync {
 public:
  struct Update {
    std::shared_ptr<const Matcher> matcher;  // never null
    std::size_t added = 0;    // templates read (new or changed people)
    std::size_t removed = 0;  // rows removed (gone or changed people)
    bool whole = false;       // every template was read
  };

  // Brings the matcher to the gallery's current templates. Throws what the gallery throws
  // (damage, a template of another length); then nothing here changed.
  Update update(const Gallery& gallery);

  std::shared_ptr<const Matcher> matcher() const { return matcher_; }
  std::size_t size() const { return versions_.size(); }

 private:
  Update read_whole(const Gallery& gallery);

  std::shared_ptr<const Matcher> matcher_;
  std::unordered_map<std::string, std::int64_t> versions_;  // of the templates in matcher_
};

}  // namespace vlrface
