#include "serve_guard.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/tcp.h>  // tcp_info.tcpi_bytes_received (glibc's netinet/tcp.h lacks it)
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <vector>

namespace vlrface::serve {
namespace {

std::string key_of(const std::string& addr, int port) {
  return addr + "|" + std::to_string(port);
}

int local_port(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

// The peer of `fd` as httplib names it (numeric address, port), or "" when `fd` is not a
// connected TCP socket whose local port is `port`.
std::string peer_key(int fd, int port) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return "";
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || local_port(a) != port) {
    return "";
  }
  len = sizeof a;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "";  // listener
  char host[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(a);
    inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
    return key_of(host, ntohs(in.sin_port));
  }
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
  inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
  return key_of(host, ntohs(in6.sin6_port));
}

// Bytes of TCP socket `fd` that the server has read since it was accepted: what the kernel
// received less what still waits in the socket (0 when unknown). A connection queued for a
// worker has read nothing, however much its client sent.
std::uint64_t bytes_read(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  int unread = 0;  // after TCP_INFO: data arriving in between only lowers the count
  if (::ioctl(fd, FIONREAD, &unread) != 0) return 0;
  return info.tcpi_bytes_received -
         std::min<std::uint64_t>(info.tcpi_bytes_received, static_cast<std::uint64_t>(unread));
}

}  // namespace

ConnectionGuard::ConnectionGuard(int port, Options options)
    : port_(port), o_(options), thread_([this] { run(); }) {}

ConnectionGuard::~ConnectionGuard() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ConnectionGuard::request_started(const std::string& addr, int port) {
  set(addr, port, State::kBody);
}
void ConnectionGuard::handler_started(const std::string& addr, int port) {
  set(addr, port, State::kHandling);
}
void ConnectionGuard::request_finished(const std::string& addr, int port) {
  set(addr, port, State::kHead);  // keep-alive: the next head is awaited from now
}

void ConnectionGuard::connection_accepted() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    accepted_ = true;
  }
  cv_.notify_all();
}

std::size_t ConnectionGuard::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

void ConnectionGuard::set(const std::string& addr, int port, State state) {
  std::lock_guard<std::mutex> lock(mu_);
  Conn& c = conns_[key_of(addr, port)];  // may come before the scan has seen the socket
  c.state = state;
  c.since = Clock::now();
  // The next head starts after what has been read so far (a pipelined head read ahead with the
  // previous request only makes the limit more lenient).
  if (state == State::kHead && c.fd >= 0) c.head_base = bytes_read(c.fd);
}

void ConnectionGuard::run() {
  std::unique_lock<std::mutex> lock(mu_);
  auto next_discovery = Clock::now();
  bool heads_waiting = false;
  while (!stop_) {
    const auto wake = heads_waiting ? std::min(next_discovery, Clock::now() + o_.head_tick)
                                    : next_discovery;
    cv_.wait_until(lock, wake, [this] { return stop_ || accepted_; });
    if (stop_) break;
    const bool discover = accepted_ || Clock::now() >= next_discovery;
    accepted_ = false;
    lock.unlock();
    heads_waiting = scan(discover);
    lock.lock();
    if (discover) next_discovery = Clock::now() + o_.tick;
  }
}

bool ConnectionGuard::scan(bool discover) {
  // The process's connected sockets on the server's port, by peer.
  std::map<std::string, int> open;
  DIR* d = discover ? ::opendir("/proc/self/fd") : nullptr;
  const bool listed = d != nullptr;  // without a listing, only the known sockets are checked
  if (d) {
    while (const dirent* e = ::readdir(d)) {
      char* end = nullptr;
      const long fd = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0' || fd == ::dirfd(d)) continue;
      const std::string key = peer_key(static_cast<int>(fd), port_);
      if (!key.empty()) open[key] = static_cast<int>(fd);
    }
    ::closedir(d);
  }
  const auto now = Clock::now();
  struct Drop {
    int fd;
    std::string key, why;
    bool reset = false;  // abortive close: RST rather than FIN
  };
  std::vector<Drop> drop;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = conns_.begin(); listed && it != conns_.end();) {
      const auto o = open.find(it->first);
      // Gone (or a callback for a connection the scan has not seen yet, given a moment).
      if (o == open.end() && (it->second.fd >= 0 || now - it->second.since > o_.header_timeout)) {
        it = conns_.erase(it);
      } else {
        if (o != open.end()) it->second.fd = o->second;
        ++it;
      }
    }
    for (const auto& [key, fd] : open) {
      if (conns_.count(key)) continue;
      Conn c;
      c.fd = fd;
      c.since = now;
      conns_.emplace(key, c);
    }
    std::vector<std::pair<Clock::time_point, std::string>> waiting;
    for (auto& [key, c] : conns_) {
      if (c.fd < 0) continue;
      const auto age = now - c.since;
      const std::uint64_t received = c.state == State::kHead ? bytes_read(c.fd) : 0;
      if (c.state == State::kHead && age > o_.header_timeout) {
        drop.push_back({c.fd, key, "no complete request head in time"});
      } else if (c.state == State::kHead && received > c.head_base &&
                 received - c.head_base > o_.max_head_bytes) {
        // Read by httplib and still no end of the head (httplib reads ahead by at most a
        // buffer of 4 KB, and the state leaves kHead as soon as the head is parsed).
        drop.push_back(
            {c.fd, key,
             "request head larger than " + std::to_string(o_.max_head_bytes / 1024) + " KiB",
             true});
      } else if (c.state == State::kBody && age > o_.body_timeout) {
        drop.push_back({c.fd, key, "request body too slow"});
      } else if (c.state == State::kHead && age > o_.grace) {
        waiting.emplace_back(c.since, key);
      }
    }
    const std::size_t room = static_cast<std::size_t>(std::max(1, o_.workers - o_.spare));
    if (waiting.size() > room) {
      std::sort(waiting.begin(), waiting.end());
      for (std::size_t i = 0; i < waiting.size() - room; ++i) {
        drop.push_back({conns_[waiting[i].second].fd, waiting[i].second,
                        "waiting for its request head while the server is busy"});
      }
    }
    for (const Drop& d : drop) {
      // The descriptor must still be that peer's: shut down, never close (httplib owns it).
      if (peer_key(d.fd, port_) != d.key) continue;
      if (d.reset) {
        // A client still sending fills the socket's buffers; shut with a FIN, it would wait on
        // a zero window for minutes. Linger 0 makes httplib's close() send a reset instead.
        const linger abort{1, 0};
        ::setsockopt(d.fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
      }
      // A head too large is shut for reading only: httplib's read returns and it answers 400
      // itself, and an answer it was already writing (it had read a 64 KB header line whole and
      // refused it) is not cut off between its status line and its body.
      ::shutdown(d.fd, d.reset ? SHUT_RD : SHUT_RDWR);
      conns_.erase(d.key);
      ++dropped_;
      spdlog::warn("serve: closed the connection of {}: {}", d.key, d.why);
    }
    return std::any_of(conns_.begin(), conns_.end(), [](const auto& kv) {
      return kv.second.fd >= 0 && kv.second.state == State::kHead;
    });
  }
}

}  // namespace vlrface::serve
