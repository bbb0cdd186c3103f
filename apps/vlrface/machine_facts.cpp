// Machine facts for benchmark and evaluation reports, read from /proc, /sys and OpenCV.
#include "machine_facts.hpp"

#include <sys/utsname.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <opencv2/core/utility.hpp>
#include <sstream>
#include <thread>
#include <vector>

using json = nlohmann::json;

namespace vlrface::cli {
namespace {

std::string first_line_value(const std::string& file, const std::vector<std::string>& keys) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  // Keys in order of preference: x86 has "model name"; Raspberry Pi kernels have "Model".
  for (const auto& key : keys) {
    for (const auto& line : lines) {
      if (line.compare(0, key.size(), key) != 0) continue;
      const auto colon = line.find(':');
      if (colon == std::string::npos || line.find_first_not_of(" \t", key.size()) != colon) {
        continue;
      }
      const auto start = line.find_first_not_of(" \t", colon + 1);
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "unknown";
}

// KEY="value" (os-release syntax) -> value; empty when absent.
std::string first_line_value_eq(const std::string& file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, key.size() + 1, key + "=") != 0) continue;
    std::string v = line.substr(key.size() + 1);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
    return v;
  }
  return "";
}

std::string compiler() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return "unknown";
#endif
}

// OpenCV 4.6 has no API for its threading back end; its build information names it.
std::string parallel_framework() {
  std::istringstream in(cv::getBuildInformation());
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find("Parallel framework:");
    if (at == std::string::npos) continue;
    const auto start = line.find_first_not_of(" \t", at + 19);
    return start == std::string::npos ? "unknown" : line.substr(start);
  }
  return "unknown";
}

// The first line of a small text file (a device-tree or DMI string), without trailing NULs.
std::string file_line(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  if (!std::getline(in, line)) return "";
  while (!line.empty() && (line.back() == '\0' || line.back() == ' ')) line.pop_back();
  return line;
}

// "Raspberry Pi 5 Model B Rev 1.0" from the device tree on a Pi; the DMI product on a PC.
std::string machine_model() {
  for (const char* f : {"/proc/device-tree/model", "/sys/firmware/devicetree/base/model"}) {
    if (auto m = file_line(f); !m.empty()) return m;
  }
  const std::string vendor = file_line("/sys/class/dmi/id/sys_vendor");
  const std::string product = file_line("/sys/class/dmi/id/product_name");
  if (!product.empty()) return vendor.empty() ? product : vendor + " " + product;
  return "unknown";
}

std::string os_name() {
  const std::string name = first_line_value_eq("/etc/os-release", "PRETTY_NAME");
  return name.empty() ? "unknown" : name;
}

long memory_total_mib() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  long kib = 0;
  while (in >> key >> kib) {
    if (key == "MemTotal:") return kib / 1024;
    in.ignore(1 << 10, '\n');
  }
  return -1;
}

}  // namespace

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  if (!(in >> a >> b >> c)) return "unknown";
  return a + " " + b + " " + c;
}

json machine_info() {
  utsname u{};
  std::string kernel = "unknown", arch = "unknown";
  if (uname(&u) == 0) {
    kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
    arch = u.machine;
  }
  return {
      {"machine_model", machine_model()},
      {"os", os_name()},
      {"arch", arch},
      {"memory_total_mib", memory_total_mib()},
      {"vlrface_version", VLRFACE_VERSION},
      {"cpu_model", first_line_value("/proc/cpuinfo", {"model name", "Model", "Hardware"})},
      {"cores", std::thread::hardware_concurrency()},
      {"opencv_cpus", cv::getNumberOfCPUs()},
      {"opencv_version", cv::getVersionString()},
      {"opencv_parallel_framework", parallel_framework()},
      {"compiler", compiler()},
#ifdef NDEBUG
      {"build", "release"},
#else
      {"build", "debug (assertions on)"},
#endif
      {"kernel", kernel},
      {"date", utc_now()},
  };
}

}  // namespace vlrface::cli
