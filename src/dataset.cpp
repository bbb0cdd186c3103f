#include "vlrface/dataset.hpp"

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "vlrface/error.hpp"

namespace fs = std::filesystem;

namespace vlrface {
namespace {

class LineReader {
 public:
  // `separator` 0: fields are separated by whitespace (tabs in LFW's files, spaces in lists).
  LineReader(std::istream& in, std::string name, char separator = 0)
      : in_(in), name_(std::move(name)), separator_(separator) {}

  // The next non-blank line split into fields; false at the end.
  bool next(std::vector<std::string>& fields) {
    std::string text;
    while (std::getline(in_, text)) {
      ++line_;
      if (!text.empty() && text.back() == '\r') text.pop_back();  // files written on Windows
      if (text.find_first_not_of(" \t") == std::string::npos) continue;
      fields.clear();
      if (separator_ == 0) {
        std::istringstream ss(text);
        for (std::string f; ss >> f;) fields.push_back(f);
      } else {
        std::istringstream ss(text);
        for (std::string f; std::getline(ss, f, separator_);) fields.push_back(trim(f));
        if (text.back() == separator_) fields.emplace_back();
      }
      return true;
    }
    return false;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("eval", name_ + ":" + std::to_string(line_) + ": " + what);
  }

  int positive_int(const std::string& s, const char* what) const {
    int v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v <= 0) {
      fail(std::string(what) + " must be a positive integer, not '" + s + "'");
    }
    return v;
  }

  float number(const std::string& s, const char* what) const {
    float v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
      fail(std::string(what) + " must be a number, not '" + s + "'");
    }
    return v;
  }

  int line() const { return line_; }
  const std::string& name() const { return name_; }

 private:
  std::istream& in_;
  std::string name_;
  char separator_;
  int line_ = 0;

  static std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
  }
};

std::string image_path(const std::string& identity, int n) {
  return "images/" + identity + "/" + std::to_string(n) + ".jpg";
}

std::ifstream open(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error("eval", file.string() + ": cannot be read");
  return in;
}

}  // namespace

PairsFile parse_pairs(std::istream& in, const std::string& name) {
  LineReader r(in, name);
  std::vector<std::string> f;
  if (!r.next(f)) throw Error("eval", name + ": empty file (expected '<folds>\\t<N>' first)");
  if (f.size() != 2 && f.size() != 3) {
    r.fail("first line must be '<folds>\\t<N>' or '<folds>\\t<N>\\t<M>'");
  }
  PairsFile out;
  out.folds = r.positive_int(f[0], "the number of folds");
  out.per_fold = r.positive_int(f[1], "the number of pairs per fold");
  out.impostors_per_fold =
      f.size() == 3 ? r.positive_int(f[2], "the number of impostor pairs per fold") : out.per_fold;
  const long long n = out.per_fold, m = out.impostors_per_fold;
  const long long expected = out.folds * (n + m);
  out.pairs.reserve(static_cast<std::size_t>(expected));
  for (long long k = 0; k < expected; ++k) {
    if (!r.next(f)) {
      throw Error("eval", name + ": ends after " + std::to_string(k) + " pairs; the header (" +
                              std::to_string(out.folds) + " folds of " + std::to_string(n) +
                              " + " + std::to_string(m) + ") promises " +
                              std::to_string(expected));
    }
    PairLine p;
    p.fold = static_cast<int>(k / (n + m));
    const long long in_fold = k % (n + m);
    p.genuine = in_fold < n;
    p.line = r.line();
    const std::string which = " (pair " + std::to_string((p.genuine ? in_fold : in_fold - n) + 1) +
                              " of fold " + std::to_string(p.fold + 1) + "), got " +
                              std::to_string(f.size()) + " fields";
    if (p.genuine) {
      if (f.size() != 3) r.fail("expected a genuine pair 'name i j'" + which);
      p.first = image_path(f[0], r.positive_int(f[1], "an image number"));
      p.second = image_path(f[0], r.positive_int(f[2], "an image number"));
    } else {
      if (f.size() != 4) r.fail("expected an impostor pair 'name1 i name2 j'" + which);
      if (f[0] == f[2]) r.fail("impostor pair of one identity '" + f[0] + "'");
      p.first = image_path(f[0], r.positive_int(f[1], "an image number"));
      p.second = image_path(f[2], r.positive_int(f[3], "an image number"));
    }
    out.pairs.push_back(std::move(p));
  }
  if (r.next(f)) {
    r.fail("more pairs than the header promises (" + std::to_string(expected) + ")");
  }
  return out;
}

std::vector<ListedImage> parse_image_list(std::istream& in, const std::string& name) {
  LineReader r(in, name);
  std::vector<ListedImage> out;
  std::vector<std::string> f;
  while (r.next(f)) {
    if (f.size() != 2) {
      r.fail("expected 'images/<id>/<n>.jpg <id>', got " + std::to_string(f.size()) + " fields");
    }
    out.push_back({f[0], f[1], r.line()});
  }
  if (out.empty()) throw Error("eval", name + ": no images listed");
  return out;
}

std::map<std::string, Landmarks> parse_landmarks(std::istream& in, const std::string& name) {
  LineReader rows(in, name, ',');
  std::map<std::string, Landmarks> out;
  std::vector<std::string> f;
  bool first = true;
  while (rows.next(f)) {
    if (first && f[0] == "file") {  // the header
      first = false;
      continue;
    }
    first = false;
    if (f.size() != 12) {
      rows.fail("expected 'file,identity,x1,y1,...,x5,y5' (12 fields), got " +
                std::to_string(f.size()));
    }
    Landmarks lm;
    for (std::size_t i = 0; i < 5; ++i) {
      lm[i] = cv::Point2f(rows.number(f[2 + 2 * i], "a landmark coordinate"),
                          rows.number(f[3 + 2 * i], "a landmark coordinate"));
    }
    if (!out.emplace(f[0], lm).second) rows.fail("second row for '" + f[0] + "'");
  }
  return out;
}

EvalDataset load_eval_dataset(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw Error("eval", dir.string() + ": no such dataset directory");
  EvalDataset d;
  d.root = dir;
  const fs::path pairs = dir / "pairs.txt", gallery = dir / "gallery.txt",
                 probe = dir / "probe.txt", landmarks = dir / "landmarks.csv";
  if (fs::exists(pairs)) {
    auto in = open(pairs);
    d.pairs = parse_pairs(in, pairs.string());
  }
  if (fs::exists(gallery) != fs::exists(probe)) {
    throw Error("eval", dir.string() + ": gallery.txt and probe.txt come together; only " +
                            (fs::exists(gallery) ? "gallery.txt" : "probe.txt") + " is present");
  }
  if (fs::exists(gallery)) {
    auto g = open(gallery);
    d.gallery = parse_image_list(g, gallery.string());
    auto p = open(probe);
    d.probe = parse_image_list(p, probe.string());
  }
  if (!d.has_pairs() && !d.has_identification()) {
    throw Error("eval", dir.string() + ": neither pairs.txt nor gallery.txt + probe.txt");
  }
  if (fs::exists(landmarks)) {
    auto in = open(landmarks);
    d.landmarks = parse_landmarks(in, landmarks.string());
  }

  // Closed-set identification: every probe's identity must be enrolled.
  std::set<std::string> enrolled;
  for (const auto& g : d.gallery) enrolled.insert(g.identity);
  for (const auto& p : d.probe) {
    if (!enrolled.count(p.identity)) {
      throw Error("eval", probe.string() + ":" + std::to_string(p.line) + ": identity '" +
                              p.identity + "' has no gallery image (closed-set identification)");
    }
  }

  // Missing images are reported here, naming the line, rather than minutes into a run.
  std::set<std::string> checked;
  auto check = [&](const std::string& file, const fs::path& list, int line) {
    if (!checked.insert(file).second) return;
    if (!fs::is_regular_file(dir / file)) {
      throw Error("eval", list.string() + ":" + std::to_string(line) + ": " +
                              (dir / file).string() + " does not exist");
    }
  };
  for (const auto& p : d.pairs.pairs) {
    check(p.first, pairs, p.line);
    check(p.second, pairs, p.line);
  }
  for (const auto& g : d.gallery) check(g.file, gallery, g.line);
  for (const auto& p : d.probe) check(p.file, probe, p.line);
  return d;
}

}  // namespace vlrface
