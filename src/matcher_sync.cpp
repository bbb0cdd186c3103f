#include "vlrface/matcher_sync.hpp"

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
  const std::vector<TemplateVersion> now = gallery.template_versions();
  std::unordered_map<std::string, std::int64_t> next;
  next.reserve(now.size());
  std::vector<std::string> to_read;      // new or changed
  std::unordered_set<std::string> gone;  // removed or changed: their rows go
  for (const TemplateVersion& v : now) {
    const auto it = versions_.find(v.name);
    if (it == versions_.end() || it->second != v.version) {
      to_read.push_back(v.name);
      if (it != versions_.end()) gone.insert(v.name);
    }
    next.emplace(v.name, v.version);
  }
  for (const auto& [name, version] : versions_) {
    if (!next.count(name)) gone.insert(name);
  }
  Update u;
  if (to_read.empty() && gone.empty()) {
    u.matcher = matcher_;
    return u;
  }
  if (to_read.size() > now.size() / 2) return read_whole(gallery);

  auto m = std::make_shared<Matcher>(*matcher_);
  u.removed = m->remove(gone);
  std::unordered_set<std::string> read;
  gallery.for_each_template_of(to_read, [&](PersonTemplate&& t) {
    m->add(t.name, t.embedding);
    next[t.name] = t.version;  // the version of what was read, should it have changed since
    read.insert(std::move(t.name));
  });
  // Removed between the two reads: not in the matcher, so not among its versions either.
  for (const auto& name : to_read) {
    if (!read.count(name)) next.erase(name);
  }
  u.added = read.size();
  u.matcher = m;
  matcher_ = std::move(m);
  versions_ = std::move(next);
  return u;
}

}  // namespace vlrface
