// File-format helpers of the gallery's export/import: base64, atomic file writes and reading the
// reference app's gallery.json.
#include "gallery_json.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "vlrface/error.hpp"

namespace vlrface::gallery_json {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void write_fail(const fs::path& out, const std::string& what, int err) {
  throw Error("gallery",
              out.string() + ": " + what + " (" + std::generic_category().message(err) + ")");
}

bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// What a file that is not a regular one is, for the refusal.
const char* kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

void require_replaceable(const fs::path& out) {
  // rename() replaces whatever the name holds: a symbolic link (the link goes, its target is
  // left stale), a FIFO someone reads, a device node (/dev/full would become a file). Only a
  // regular file, or nothing, may be replaced. lstat: a link is judged as the link itself.
  struct stat st {};
  if (::lstat(out.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return;
    write_fail(out, "cannot be accessed", err);
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error("gallery", out.string() + ": is " + kind_of(st.st_mode) +
                               ", not a regular file; refusing to replace it (name a new file)");
  }
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16 |
                            std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8 |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) v |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    const auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

void write_file_atomically(const fs::path& out, std::string_view text) {
  require_replaceable(out);
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  // Same folder, so rename() replaces the old file atomically; created 0600 with O_EXCL, so the
  // biometric data is never readable by others, not even while it is being written.
  fs::path tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = dir / ("." + out.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                 std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    const int err = errno;
    if (fd < 0 && (err != EEXIST || attempt >= 100)) {
      write_fail(out, "cannot create a temporary file in " + dir.string(), err);
    }
  }
  int err = 0;
  if (::fchmod(fd, 0600) != 0) err = errno;
  if (err == 0 && !write_all(fd, text)) err = errno;
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    write_fail(out, "cannot be written", err);
  }
  // Again just before the rename: writing took a while, and the name may have been replaced by
  // a link or a FIFO meanwhile.
  try {
    require_replaceable(out);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), out.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    write_fail(out, "cannot be written", err);
  }
  // Without this a crash could forget the rename although the data itself reached the disk.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

ReferenceEntries read_reference(const fs::path& json_file) {
  const std::string file = json_file.string();
  std::error_code ec;
  if (!fs::is_regular_file(json_file, ec)) throw Error("gallery", file + ": no such file");
  std::ifstream in(json_file, std::ios::binary);
  if (!in) throw Error("gallery", file + ": cannot be opened for reading");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error("gallery", file + ": is not valid JSON (" + e.what() + ")");
  }
  return read_reference(doc, file);
}

ReferenceEntries read_reference(const nlohmann::json& doc, const std::string& file) {
  const auto people = doc.is_object() ? doc.find("people") : doc.end();
  if (people == doc.end() || !people->is_array()) {
    throw Error("gallery", file + ": is not a reference-app gallery (no \"people\" array)");
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (std::size_t i = 0; i < people->size(); ++i) {
    const nlohmann::json& entry = (*people)[i];
    std::string where = file + ": people[" + std::to_string(i) + "]";
    if (!entry.is_object()) throw Error("gallery", where + ": is not an object");
    const auto name = entry.find("name");
    if (name == entry.end() || !name->is_string()) {
      throw Error("gallery", where + ": has no \"name\" string");
    }
    where += " ('" + name->get<std::string>() + "')";
    const auto paths = entry.find("image_paths");
    if (paths == entry.end() || !paths->is_array()) {
      throw Error("gallery", where + ": has no \"image_paths\" array");
    }
    std::vector<std::string> images;
    for (std::size_t j = 0; j < paths->size(); ++j) {
      const nlohmann::json& p = (*paths)[j];
      if (!p.is_string() || p.get_ref<const std::string&>().empty()) {
        throw Error("gallery",
                    where + ": image_paths[" + std::to_string(j) + "] is not a file name");
      }
      images.push_back(p.get<std::string>());
    }
    out.emplace_back(name->get<std::string>(), std::move(images));
  }
  return out;
}

}  // namespace vlrface::gallery_json
