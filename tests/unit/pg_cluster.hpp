// A throwaway PostgreSQL cluster for tests: initdb in a temporary folder, a free local port, the
// Unix socket in that folder, trust authentication for the test role, stopped and removed at
// the end. Debian's server binaries (package `postgresql`, /usr/lib/postgresql/<version>/bin).
// PostgreSQL refuses to run as root: when the tests run as root, the server runs as the
// `postgres` account (created by the package), else `nobody`, through runuser.
#pragma once

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>

namespace vlrtest {

class PgCluster {
 public:
  PgCluster() {
    bin_ = find_bin();
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("vlrface-pg-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_ / "sock");
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) pw = ::getpwnam("nobody");
      if (pw == nullptr) throw std::runtime_error("no unprivileged account to run PostgreSQL as");
      run_as_ = std::string("runuser -u ") + pw->pw_name + " -- ";
      for (const auto& p : {dir_, dir_ / "sock"}) {
        if (::chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
          throw std::runtime_error("cannot chown " + p.string());
        }
      }
    }
    run(bin_ + "/initdb -D " + (dir_ / "data").string() +
            " -U vlrtest --auth=trust -E UTF8 --no-locale -N",
        "initdb");
    port_ = free_port();
    start();
    run(bin_ + "/createdb -h 127.0.0.1 -p " + std::to_string(port_) + " -U vlrtest vlrface",
        "createdb");
  }
  ~PgCluster() {
    std::system((run_as_ + bin_ + "/pg_ctl -D " + (dir_ / "data").string() +
                 " -m immediate stop > /dev/null 2>&1")
                    .c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& db = "vlrface", const std::string& password = "") const {
    return "postgresql://vlrtest" + (password.empty() ? "" : ":" + password) +
           "@127.0.0.1:" + std::to_string(port_) + "/" + db + "?sslmode=disable&connect_timeout=5";
  }
  // psql as the test role, for what the API cannot do (faking a newer schema).
  void sql(const std::string& statement, const std::string& db = "vlrface") const {
    const std::string file = (dir_ / "stmt.sql").string();
    std::ofstream(file) << statement << "\n";
    run(bin_ + "/psql -v ON_ERROR_STOP=1 -q -h 127.0.0.1 -p " + std::to_string(port_) +
            " -U vlrtest -d " + db + " -f " + file,
        "psql");
  }

  void start() {
    run(bin_ + "/pg_ctl -D " + (dir_ / "data").string() + " -l " + (dir_ / "log").string() +
            " -w -t 30 -o \"-p " + std::to_string(port_) + " -k " + (dir_ / "sock").string() +
            " -c listen_addresses=127.0.0.1 -c fsync=off\" start",
        "pg_ctl start");
  }
  void stop() {
    run(bin_ + "/pg_ctl -D " + (dir_ / "data").string() + " -m fast -w stop", "pg_ctl stop");
  }

 private:
  static std::string find_bin() {
    std::string best;
    int best_version = -1;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
      const std::string v = e.path().filename().string();
      if (!std::filesystem::exists(e.path() / "bin" / "initdb")) continue;
      const int n = std::atoi(v.c_str());
      if (n > best_version) best_version = n, best = (e.path() / "bin").string();
    }
    if (best.empty()) {
      throw std::runtime_error(
          "no PostgreSQL server in /usr/lib/postgresql/*/bin: install Debian's `postgresql` "
          "(scripts/setup.sh does)");
    }
    return best;
  }

  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("no free local port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
  }

  void run(const std::string& cmd, const std::string& what) const {
    const std::string out = (dir_ / "cmd.log").string();
    const std::string full = "cd " + dir_.string() + " && " + run_as_ + cmd + " > " + out + " 2>&1";
    if (std::system(full.c_str()) != 0) {
      std::ifstream in(out);
      const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      std::ifstream log(dir_ / "log");
      const std::string server{std::istreambuf_iterator<char>(log),
                               std::istreambuf_iterator<char>()};
      throw std::runtime_error(what + " failed: " + text + "\nserver log:\n" + server);
    }
  }

  std::string bin_;
  std::filesystem::path dir_;
  std::string run_as_;
  int port_ = 0;
};

}  // namespace vlrtest
