// Test helpers: Debian's mosquitto broker started on a free local port in a temporary folder,
// and a libmosquitto subscriber that records what it receives. Shared by the events unit tests
// and the serve model test.
#pragma once

#include <gtest/gtest.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vlrtest {

// CI sets VLRFACE_REQUIRE_MODELS=1: a missing broker then fails instead of skipping.
inline bool broker_required() {
  const char* e = std::getenv("VLRFACE_REQUIRE_MODELS");
  return e && *e && std::string(e) != "0";
}

inline std::string mosquitto_binary() {
  for (const char* p : {"/usr/sbin/mosquitto", "/usr/bin/mosquitto"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A mosquitto process with its own config, persistence file and log in `dir`.
class Broker {
 public:
  // `extra`: more configuration (another listener, TLS files).
  explicit Broker(std::filesystem::path dir, const std::string& extra = "")
      : dir_(std::move(dir)), port_(free_port()) {
    std::filesystem::create_directories(dir_);
    std::ofstream conf(dir_ / "mosquitto.conf");
    conf << "listener " << port_ << " 127.0.0.1\n"
         << "allow_anonymous true\n"
         << "persistence true\n"
         << "persistence_location " << dir_.string() << "/\n"
         << "log_dest file " << (dir_ / "mosquitto.log").string() << "\n"
         << "log_type all\n";
    // As root, mosquitto would otherwise switch to the 'mosquitto' user, who cannot write here.
    if (const passwd* pw = ::getpwuid(::geteuid())) conf << "user " << pw->pw_name << "\n";
    conf << extra;
  }
  ~Broker() { kill9(); }
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  int port() const { return port_; }
  std::filesystem::path log() const { return dir_ / "mosquitto.log"; }
  std::string log_text() const {
    std::ifstream in(log());
    return {std::istreambuf_iterator<char>(in), {}};
  }

  // Starts it and waits until it accepts connections.
  bool start() {
    const std::string bin = mosquitto_binary();
    if (bin.empty()) return false;
    const std::string conf = (dir_ / "mosquitto.conf").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(bin.c_str(), bin.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (port_open(port_)) return true;
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = 0;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }
  // Writes the persistence file now (SIGUSR1) and waits until it is there.
  bool save() {
    const auto db = dir_ / "mosquitto.db";
    std::error_code ec;
    const auto before = std::filesystem::exists(db) ? std::filesystem::last_write_time(db, ec)
                                                     : std::filesystem::file_time_type{};
    std::filesystem::remove(db, ec);
    ::kill(pid_, SIGUSR1);
    for (int i = 0; i < 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      if (std::filesystem::exists(db) && std::filesystem::file_size(db, ec) > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the write end
        return true;
      }
    }
    (void)before;
    return false;
  }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = 0;
};

struct Received {
  std::string topic, payload;
  bool retain = false;
};

// A subscriber on its own libmosquitto thread; reconnects by itself (1 s) when the broker goes.
class Subscriber {
 public:
  Subscriber(int port, std::vector<std::string> patterns, std::string id = "",
             bool clean = true)
      : patterns_(std::move(patterns)) {
    mosquitto_lib_init();
    m_ = mosquitto_new(id.empty() ? nullptr : id.c_str(), clean, this);
    mosquitto_connect_callback_set(m_, [](mosquitto* m, void* self, int rc) {
      auto* s = static_cast<Subscriber*>(self);
      if (rc != 0) return;
      for (const auto& p : s->patterns_) mosquitto_subscribe(m, nullptr, p.c_str(), 1);
    });
    mosquitto_subscribe_callback_set(
        m_, [](mosquitto*, void* self, int, int, const int*) {
          auto* s = static_cast<Subscriber*>(self);
          std::lock_guard lk(s->mu_);
          ++s->subacks_;
          s->cv_.notify_all();
        });
    mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      auto* s = static_cast<Subscriber*>(self);
      std::lock_guard lk(s->mu_);
      s->got_.push_back({msg->topic,
                         std::string(static_cast<const char*>(msg->payload),
                                     static_cast<std::size_t>(msg->payloadlen)),
                         msg->retain});
      s->cv_.notify_all();
    });
    mosquitto_reconnect_delay_set(m_, 1, 1, false);
    ok_ = mosquitto_connect(m_, "127.0.0.1", port, 30) == MOSQ_ERR_SUCCESS &&
          mosquitto_loop_start(m_) == MOSQ_ERR_SUCCESS;
  }
  ~Subscriber() {
    mosquitto_disconnect(m_);
    mosquitto_loop_stop(m_, true);
    mosquitto_destroy(m_);
  }
  bool ok() const { return ok_; }
  // Waits until every pattern was acknowledged.
  bool wait_subscribed(int seconds = 10) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(seconds),
                        [&] { return subacks_ >= static_cast<int>(patterns_.size()); });
  }
  // Waits until `ok` holds for the messages so far; returns them either way.
  std::vector<Received> wait(const std::function<bool(const std::vector<Received>&)>& ok,
                             int seconds = 10) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::seconds(seconds), [&] { return ok(got_); });
    return got_;
  }
  std::vector<Received> messages() {
    std::lock_guard lk(mu_);
    return got_;
  }

 private:
  mosquitto* m_ = nullptr;
  std::vector<std::string> patterns_;
  bool ok_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> got_;
  int subacks_ = 0;
};

inline std::vector<Received> on_topic(const std::vector<Received>& all, const std::string& topic) {
  std::vector<Received> r;
  for (const auto& m : all) {
    if (m.topic == topic) r.push_back(m);
  }
  return r;
}

}  // namespace vlrtest

// Skips the test without the broker, or fails it where the whole suite must run (CI).
#define VLR_REQUIRE_MOSQUITTO()                                                              \
  if (vlrtest::mosquitto_binary().empty()) {                                                 \
    if (vlrtest::broker_required()) {                                                        \
      FAIL() << "VLRFACE_REQUIRE_MODELS is set: the mosquitto broker is not installed "      \
                "(Debian package mosquitto)";                                                \
    } else {                                                                                 \
      GTEST_SKIP() << "the mosquitto broker is not installed (Debian package mosquitto)";   \
    }                                                                                        \
  }
