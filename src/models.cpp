#include "vlrface/models.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <system_error>

#include <cstdlib>
#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "vlrface/error.hpp"

namespace fs = std::filesystem;

namespace vlrface {
namespace {

fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

// The whole of a small text file. A file that cannot be read is reported with the system's
// reason ("permission denied", "is a directory"), never as a parse error of empty text.
std::string read_text(const fs::path& file) {
  auto fail = [&](int err) {
    std::string why = std::error_code(err, std::generic_category()).message();
    if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
    return Error("models", file.string() + ": cannot be read: " + why);
  };
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(errno);
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw fail(err);  // a directory opens, then reads EISDIR
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

ModelInfo parse_manifest(const fs::path& manifest, const fs::path& dir) {
  const std::string text = read_text(manifest);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error("models", manifest.string() + ": not valid JSON (" + e.what() + ")");
  }
  ModelInfo m;
  try {
    m.name = j.at("name").get<std::string>();
    m.kind = j.at("kind").get<std::string>();
    m.path = dir / j.at("file").get<std::string>();
    m.sha256 = j.at("sha256").get<std::string>();
    m.id = j.value("id", m.name + "/" + m.sha256.substr(0, 8));
    if (j.contains("input")) {
      m.input_width = j["input"].value("width", 0);
      m.input_height = j["input"].value("height", 0);
    }
    if (j.contains("normalisation")) {
      const auto& n = j["normalisation"];
      m.norm.scale = n.value("scale", 1.0);
      if (n.contains("mean")) {
        for (int c = 0; c < 3; ++c) m.norm.mean[c] = n["mean"].at(c).get<double>();
      }
      m.norm.swap_rb = n.value("swap_rb", false);
    }
    m.threshold = j.value("threshold", 0.0);
    m.threshold_source = j.value("threshold_source", std::string());
    if (j.contains("thresholds")) {
      for (const auto& t : j["thresholds"]) {
        const std::string faces = t.value("faces", std::string("simulated"));
        if (faces != "native" && faces != "simulated") {
          throw Error("models", manifest.string() + ": threshold \"faces\" must be native or "
                                                "simulated, not '" + faces + "'");
        }
        m.thresholds.push_back({t.at("px").get<int>(), t.at("recovery").get<std::string>(),
                                t.at("threshold").get<double>(), faces == "native"});
      }
    }
    m.resolution = j.value("resolution", 0);
    if (j.contains("sizes")) {
      m.min_px = j["sizes"].at(0).get<int>();
      m.max_px = j["sizes"].at(1).get<int>();
    } else if (m.resolution > 0) {
      m.min_px = m.max_px = m.resolution;
    }
    m.base = j.value("base", std::string());
    if (j.contains("recovery")) {
      const auto& r = j["recovery"];
      m.cutoff_px = r.value("cutoff_px", 0);
      m.recovery_source = r.value("source", std::string());
      for (const auto& [px, d] : r.at("sizes").items()) {
        m.recovery[std::stoi(px)] = {d.at("upscaler").get<std::string>(), d.value("adapter", false)};
      }
      if (r.contains("simulated")) {
        for (const auto& [px, d] : r["simulated"].items()) {
          m.recovery_simulated[std::stoi(px)] = {d.at("upscaler").get<std::string>(),
                                                 d.value("adapter", false)};
        }
      }
    }
    m.source = j.value("source", std::string());
    const std::string precision = j.value("precision", std::string("fp32"));
    const auto p = precision_from_string(precision);
    if (!p) {
      throw Error("models", manifest.string() + ": \"precision\" must be fp32 or int8, not '" +
                                precision + "'");
    }
    m.precision = *p;
    m.precision_source = j.value("precision_source", std::string());
  } catch (const nlohmann::json::exception& e) {
    throw Error("models", manifest.string() + ": missing or wrong field (" + e.what() + ")");
  }
  return m;
}

}  // namespace

namespace {
// The entry whose size is nearest to `px` (ties: the smaller size).
template <class It, class Px>
It nearest(It first, It last, int px, Px size_of) {
  It best = last;
  for (It it = first; it != last; ++it) {
    if (best == last || std::abs(size_of(*it) - px) < std::abs(size_of(*best) - px) ||
        (std::abs(size_of(*it) - px) == std::abs(size_of(*best) - px) &&
         size_of(*it) < size_of(*best))) {
      best = it;
    }
  }
  return best;
}
}  // namespace

double ModelInfo::threshold_for(int px, const std::string& path, bool native) const {
  if (path == "base" || px <= 0 || px >= 112) return threshold;
  std::vector<PathThreshold> same;
  for (const auto& t : thresholds) {
    if (t.recovery == path && t.native == native) same.push_back(t);
  }
  if (same.empty()) {
    for (const auto& t : thresholds) {
      if (t.recovery == path) same.push_back(t);
    }
  }
  const auto it = nearest(same.begin(), same.end(), px, [](const PathThreshold& t) { return t.px; });
  return it == same.end() ? threshold : it->value;
}

const ModelInfo::RecoveryDefault* ModelInfo::recovery_for(int px, bool native) const {
  const auto& m = native || recovery_simulated.empty() ? recovery : recovery_simulated;
  const auto it = nearest(m.begin(), m.end(), px, [](const auto& kv) { return kv.first; });
  return it == m.end() ? nullptr : &it->second;
}

fs::path resolve_model_dir(const std::optional<fs::path>& cli) {
  if (cli && !cli->empty()) return fs::absolute(*cli);
  if (const char* env = std::getenv("VLRFACE_MODELS"); env && *env) return fs::absolute(env);
  return (executable_dir() / ".." / "share" / "vlrface" / "models").lexically_normal();
}

std::string model_setup_hint() {
  return "run scripts/setup.sh (it fetches, checks and converts the models), or point --models / "
         "VLRFACE_MODELS at a prepared model directory";
}

std::string sha256_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("models", file.string() + ": cannot be read");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  std::ostringstream hex;
  for (unsigned i = 0; i < len; ++i) {
    static const char* kHex = "0123456789abcdef";
    hex << kHex[digest[i] >> 4] << kHex[digest[i] & 15];
  }
  return hex.str();
}

ModelStore::ModelStore(fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".json") continue;
    ModelInfo m = parse_manifest(entry.path(), dir_);
    models_[m.name] = std::move(m);
  }
}

bool ModelStore::has(const std::string& name) const {
  return models_.count(name) > 0;
}

const ModelInfo& ModelStore::manifest(const std::string& name) const {
  auto it = models_.find(name);
  if (it == models_.end()) {
    std::error_code ec;
    const std::string where = fs::is_directory(dir_, ec)
                                  ? "has no manifest " + (dir_ / (name + ".json")).string()
                                  : "does not exist";
    throw Error("models", "model '" + name + "' not found: model directory " + dir_.string() + " " +
                              where + "; " + model_setup_hint());
  }
  return it->second;
}

const ModelInfo& ModelStore::get(const std::string& name) const {
  const ModelInfo& m = manifest(name);
  std::error_code ec;
  if (!fs::exists(m.path, ec)) {
    throw Error("models", m.path.string() + ": model file missing; " + model_setup_hint());
  }
  const std::string actual = sha256_file(m.path);
  if (actual != m.sha256) {
    throw Error("models", m.path.string() + ": sha256 " + actual.substr(0, 16) +
                              "... does not match the manifest (" + m.sha256.substr(0, 16) +
                              "...): the file is damaged or was replaced; " + model_setup_hint());
  }
  return m;
}

std::vector<std::string> ModelStore::names(const std::string& kind) const {
  std::vector<std::string> out;
  for (const auto& [name, m] : models_) {
    if (m.kind == kind) out.push_back(name);
  }
  return out;
}

std::string ModelStore::adapter_for(const std::string& embedder, int px) const {
  // The adapter whose size range is nearest to px (0 inside it); ties: a range student over a
  // per-size adapter, then the smaller size.
  const ModelInfo* best = nullptr;
  auto distance = [px](const ModelInfo& m) {
    return px < m.min_px ? m.min_px - px : px > m.max_px ? px - m.max_px : 0;
  };
  for (const auto& [name, m] : models_) {
    if (m.kind != "embedder" || m.base != embedder || m.max_px == 0) continue;
    if (!best || distance(m) < distance(*best) ||
        (distance(m) == distance(*best) &&
         (m.max_px - m.min_px > best->max_px - best->min_px ||
          (m.max_px - m.min_px == best->max_px - best->min_px && m.min_px < best->min_px)))) {
      best = &m;
    }
  }
  return best ? best->name : std::string();
}

std::string ModelStore::upscaler_for(int px) const {
  std::vector<const ModelInfo*> ups;
  for (const auto& [name, m] : models_) {
    if (m.kind == "upscaler" && m.resolution > 0) ups.push_back(&m);
  }
  const auto it =
      nearest(ups.begin(), ups.end(), px, [](const ModelInfo* m) { return m->resolution; });
  return it == ups.end() ? std::string() : (*it)->name;
}

}  // namespace vlrface
