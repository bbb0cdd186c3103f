// The rows `vlrface eval` runs, parsed from its options (--res/--upscaler, --native/--native-paths,
// --matched-templates), and the template size a small face is matched with.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "eval_run.hpp"
#include "vlrface/align.hpp"
#include "vlrface/error.hpp"

namespace vlrface::evaluation {
namespace {

std::vector<std::string> split_list(const std::string& text, const char* option) {
  std::vector<std::string> out;
  std::istringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    const auto b = item.find_first_not_of(' ');
    const auto e = item.find_last_not_of(' ');
    if (b == std::string::npos) {
      throw Error("cli", std::string(option) + ": empty item in '" + text + "'");
    }
    out.push_back(item.substr(b, e - b + 1));
  }
  if (out.empty()) throw Error("cli", std::string(option) + " needs at least one value");
  return out;
}

int parse_size(const std::string& r, const char* option) {
  int v = 0;
  const auto [end, ec] = std::from_chars(r.data(), r.data() + r.size(), v);
  if (ec != std::errc() || end != r.data() + r.size() || v < 4 || v >= kAlignedSize) {
    throw Error("cli", std::string(option) + ": '" + r + "' is not a size from 4 to 111");
  }
  return v;
}

bool is_recovery(const std::string& p) {
  return p == "bicubic" || p == "dsr" || p == "bicubic+adapter" || p == "dsr+adapter";
}

}  // namespace

std::string Condition::kind_name() const {
  return kind == Kind::kFull ? "full" : kind == Kind::kSimulated ? "simulated" : "native";
}

std::string Condition::label() const {
  if (kind == Kind::kFull) return "112 px";
  return std::to_string(px) + " px " + (kind == Kind::kSimulated ? "sim " : "native ") + path;
}

std::vector<Condition> parse_simulated(const std::string& resolutions, const std::string& paths) {
  std::vector<std::string> ups;
  for (const auto& u : split_list(paths, "--upscaler")) {
    if (!is_recovery(u)) {
      throw Error("cli", "--upscaler: '" + u + "' is not bicubic, dsr, bicubic+adapter or dsr+adapter");
    }
    if (std::find(ups.begin(), ups.end(), u) == ups.end()) ups.push_back(u);
  }
  std::vector<Condition> out;
  std::set<int> seen;
  for (const auto& r : split_list(resolutions, "--res")) {
    const int px = r == "full" || r == "112" ? 0 : parse_size(r, "--res");
    if (!seen.insert(px).second) continue;
    if (px == 0) {
      out.push_back({Condition::Kind::kFull, 0, "base"});
    } else {
      for (const auto& u : ups) out.push_back({Condition::Kind::kSimulated, px, u});
    }
  }
  return out;
}

std::vector<Condition> parse_native(const std::string& sizes, const std::string& paths) {
  std::vector<std::string> ps;
  for (const auto& p : split_list(paths, "--native-paths")) {
    if (p != "base" && p != "auto" && !is_recovery(p)) {
      throw Error("cli", "--native-paths: '" + p +
                             "' is not base, auto, bicubic, dsr, bicubic+adapter or dsr+adapter");
    }
    if (std::find(ps.begin(), ps.end(), p) == ps.end()) ps.push_back(p);
  }
  // The base row is every native row's reference: always there, first.
  ps.erase(std::remove(ps.begin(), ps.end(), "base"), ps.end());
  ps.insert(ps.begin(), "base");
  std::vector<Condition> out;
  std::set<int> seen;
  for (const auto& s : split_list(sizes, "--native")) {
    const int px = parse_size(s, "--native");
    if (!seen.insert(px).second) continue;
    for (const auto& p : ps) out.push_back({Condition::Kind::kNative, px, p});
  }
  return out;
}

std::vector<int> parse_sizes(const std::string& sizes, const char* option) {
  std::set<int> out;
  for (const auto& s : split_list(sizes, option)) out.insert(parse_size(s, option));
  return {out.begin(), out.end()};
}

int matched_template_size(const std::vector<int>& sizes, float px) {
  if (sizes.empty()) throw Error("eval", "no template sizes to match a small face with");
  int best = sizes.front();
  for (int s : sizes) {
    const double d = std::abs(std::log(s / static_cast<double>(px)));
    const double b = std::abs(std::log(best / static_cast<double>(px)));
    if (d < b || (d == b && s < best)) best = s;
  }
  return best;
}

}  // namespace vlrface::evaluation
