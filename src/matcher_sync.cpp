#include "vlrface/matcher_sync.hpp"

#include <string_view>
#include <unordered_set>
#include <vector>

namespace vlrface {

MatcherSync::Update MatcherSync::read_whole(const Gallery& gallery) {
  // Row by row: a large gallery's templates are never held twice (as a list and as the matrix).
  auto m = std::make_shared<Matcher>();
  std::unordered_map<std::string, std::int64_t> versions;
  m->reserve(gallery.size());
  gallery.for_each_template([&](PersonTemplate&& t) {
    m->add(t.name, t.embedding);
    versions[std::move(t.name)] = t.version;
  });
  Update u;
  u.added = m->size();
  u.whole = true;
  u.matcher = m;
  matcher_ = std::move(m);
  versions_ = std::move(versions);
  return u;
}

MatcherSync::Update MatcherSync::update(const Gallery& gallery) {
  if (!matcher_) return read_whole(gallery);
  // One pass over the versions (an index-only read); maps are looked up, not rebuilt: at
  // 100,000 people rebuilding them would cost more than the change.
  const std::vector<TemplateVersion> now = gallery.template_versions();
  std::vector<std::string> to_read;      // new or changed
  std::unordered_set<std::string> gone;  // removed or changed: their rows go
  std::size_t known = 0;                 // names of `now` that versions_ has
  for (const TemplateVersion& v : now) {
    const auto it = versions_.find(v.name);
    if (it == versions_.end()) {
      to_read.push_back(v.name);
      continue;
    }
    ++known;
    if (it->second != v.version) {
      to_read.push_back(v.name);
      gone.insert(v.name);
    }
  }
  if (known != versions_.size()) {  // names are unique: someone was removed (or renamed)
    std::unordered_set<std::string_view> present;
    present.reserve(now.size());
    for (const TemplateVersion& v : now) present.insert(v.name);
    for (const auto& [name, version] : versions_) {
      if (!present.count(name)) gone.insert(name);
    }
  }
  Update u;
  if (to_read.empty() && gone.empty()) {
    u.matcher = matcher_;
    return u;
  }
  if (to_read.size() > now.size() / 2) return read_whole(gallery);

  auto m = std::make_shared<Matcher>(*matcher_);
  u.removed = m->remove(gone);
  std::vector<std::pair<std::string, std::int64_t>> read;
  gallery.for_each_template_of(to_read, [&](PersonTemplate&& t) {
    m->add(t.name, t.embedding);
    read.emplace_back(std::move(t.name), t.version);  // as read, should it have changed since
  });
  // Committed only now, so that a failure above leaves this object as it was. A person in
  // `to_read` that was removed between the two reads is in neither the matcher nor versions_.
  for (const auto& name : gone) versions_.erase(name);
  for (auto& [name, version] : read) versions_[std::move(name)] = version;
  u.added = read.size();
  u.matcher = m;
  matcher_ = std::move(m);
  return u;
}

}  // namespace vlrface
