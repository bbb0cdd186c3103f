// Options of the MQTT sink read from the command line: the broker URL and the password file.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "mqtt_sink.hpp"
#include "vlrface/error.hpp"

namespace vlrface::events {
namespace {

int parse_port(const std::string& text, const std::string& url) {
  if (text.empty() || text.size() > 5 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw Error("events", "--mqtt '" + url + "': the port must be a number 1..65535");
  }
  const int port = std::stoi(text);
  if (port < 1 || port > 65535) {
    throw Error("events", "--mqtt '" + url + "': the port must be a number 1..65535");
  }
  return port;
}

}  // namespace

void parse_mqtt_url(const std::string& url, MqttOptions& o) {
  std::string rest;
  if (url.rfind("mqtt://", 0) == 0) {
    o.tls = false;
    o.port = 1883;
    rest = url.substr(7);
  } else if (url.rfind("mqtts://", 0) == 0) {
    o.tls = true;
    o.port = 8883;
    rest = url.substr(8);
  } else {
    throw Error("events", "--mqtt '" + url + "': expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]");
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('@') != std::string::npos) {
    throw Error("events", "--mqtt: no user or password in the URL (it would show in the process "
                          "list): use --mqtt-user and --mqtt-password-file");
  }
  if (rest.find('/') != std::string::npos || rest.find('?') != std::string::npos) {
    throw Error("events", "--mqtt '" + url + "': only a host and port, no path");
  }
  std::string host, port;
  if (!rest.empty() && rest[0] == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) throw Error("events", "--mqtt '" + url + "': missing ']'");
    host = rest.substr(1, close - 1);
    const std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw Error("events", "--mqtt '" + url + "': expected ':PORT' after ']'");
      port = after.substr(1);
      o.port = parse_port(port, url);
    }
  } else {
    const auto colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string::npos) o.port = parse_port(rest.substr(colon + 1), url);
  }
  if (host.empty()) throw Error("events", "--mqtt '" + url + "': no host");
  o.host = host;
}

std::string read_password_file(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    throw Error("events", "--mqtt-password-file " + file.string() + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error("events", "--mqtt-password-file " + file.string() + ": not a regular file");
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    throw Error("events", "--mqtt-password-file " + file.string() +
                              ": readable or writable by others; make it owner-only (chmod 600)");
  }
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) {
    throw Error("events", "--mqtt-password-file " + file.string() + ": cannot be read or is empty");
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    throw Error("events", "--mqtt-password-file " + file.string() + ": the first line is empty");
  }
  return line;
}

}  // namespace vlrface::events
