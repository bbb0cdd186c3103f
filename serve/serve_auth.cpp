#include "serve_auth.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "vlrface/error.hpp"

namespace fs = std::filesystem;

namespace vlrface::serve {

fs::path default_token_path() {
  fs::path base;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) {
    base = x;
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    base = fs::path(h) / ".config";
  } else {
    base = fs::current_path();
  }
  return base / "vlrface" / "token";
}

std::string random_hex(std::size_t bytes) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string raw(bytes, '\0');
  if (!in.read(raw.data(), static_cast<std::streamsize>(bytes))) {
    throw Error("serve", "cannot read /dev/urandom");
  }
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

TokenFile create_token(const fs::path& path) {
  if (path.has_parent_path() && !fs::exists(path.parent_path())) {
    fs::create_directories(path.parent_path());
    ::chmod(path.parent_path().c_str(), 0700);
  }
  TokenFile t{random_hex(32), path, true};
  // O_EXCL: two servers starting at once must not overwrite each other's printed token.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw Error("serve", path.string() + ": cannot create the token file");
  const std::string line = t.token + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) throw Error("serve", path.string() + ": cannot write the token file");
  return t;
}

}  // namespace

TokenFile load_or_create_token(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return create_token(path);
  if (!S_ISREG(st.st_mode)) throw Error("serve", path.string() + ": not a regular file");
  if (st.st_mode & 077) {
    std::ostringstream mode;
    mode << std::oct << (st.st_mode & 0777);
    throw Error("serve", path.string() + " is readable by others (mode 0" + mode.str() +
                             "): run chmod 600 on it");
  }
  std::ifstream in(path);
  if (!in) throw Error("serve", path.string() + ": cannot read the token file");
  std::stringstream ss;
  ss << in.rdbuf();
  TokenFile t{trim(ss.str()), path, false};
  if (t.token.size() < 16) {
    throw Error("serve", path.string() + ": the token must have at least 16 characters");
  }
  return t;
}

bool tokens_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

bool is_loopback_host(const std::string& host) {
  std::string h = host;
  std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return std::tolower(c); });
  if (h == "localhost" || h == "::1" || h == "[::1]") return true;
  // A whole IPv4 address in 127.0.0.0/8, nothing else: a prefix test would let names such as
  // "127.0.0.1.evil.example" (DNS rebinding) pass as loopback.
  in_addr a{};
  if (inet_pton(AF_INET, h.c_str(), &a) != 1) return false;
  return (ntohl(a.s_addr) >> 24) == 127;
}

std::string cookie_value(const std::string& header, const std::string& name) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    std::size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    const std::string part = trim(header.substr(pos, end - pos));
    const auto eq = part.find('=');
    if (eq != std::string::npos && part.substr(0, eq) == name) return part.substr(eq + 1);
    pos = end + 1;
  }
  return "";
}

}  // namespace vlrface::serve
