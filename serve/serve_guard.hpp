// Slow clients must not hold the server's worker threads (slowloris).
//
// Usage:
//   ConnectionGuard guard(port, {.workers = 7});        // starts its watchdog thread
//   guard.request_started(req.remote_addr, req.remote_port);  // the request head is in
//   guard.handler_started(req.remote_addr, req.remote_port);  // the body is in too
//   guard.request_finished(req.remote_addr, req.remote_port); // the response went out
//   guard.connection_accepted();  // from the server's task queue, as each socket is accepted
//
// httplib (0.11) gives every connection a pool thread that blocks reading it; its read timeout
// is per read, so a client sending a header line every few seconds holds a thread for ever,
// before any authentication. The guard watches the server's connected sockets (its own
// process's file descriptors whose local port is the server's) and shuts a connection down
// (shutdown(2): httplib's blocked read returns and the thread is free) when
//   * it has not delivered a whole request head `header_timeout` after it was accepted or
//     after its previous response,
//   * the server has read more than `max_head_bytes` of it without a whole request head
//     (httplib limits each header line, not their number: header lines sent for the whole
//     timeout would all be kept in memory, tens of MB, before any authentication),
//   * its body has not arrived `body_timeout` after its head, or
//   * more connections wait for a head than `workers - spare`: the longest waiting ones go
//     first (after `grace`), so that `spare` workers are always there for quick clients.
// Requests being handled (a live stream, a long upload once read) are never touched.
// The guard polls: it finds the server's sockets in /proc/self/fd every `tick` and as soon as
// one is accepted, and while any connection is waiting for its head it checks their byte counts
// every `head_tick` (a loopback client sends tens of MB/s of header lines: at `tick` alone,
// 200 ms of them held 10-16 MB of the server's memory before the connection was shut).
// Thread safety: the callbacks may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace vlrface::serve {

class ConnectionGuard {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds body_timeout{60'000};
    int workers = 7;  // the server's pool
    int spare = 2;    // workers kept free of clients still sending their head
    std::chrono::milliseconds grace{1'000};  // a connection this young is not dropped for room
    std::chrono::milliseconds tick{200};
    std::chrono::milliseconds head_tick{5};  // while a connection waits for its head
    std::uint64_t max_head_bytes = 64 * 1024;  // browsers send a few KB (cookies included)
  };

  ConnectionGuard(int port, Options options);
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  void request_started(const std::string& addr, int port);
  void handler_started(const std::string& addr, int port);
  void request_finished(const std::string& addr, int port);
  // A connection was accepted: look for it now rather than at the next tick.
  void connection_accepted();
  // Connections shut down so far.
  std::size_t dropped() const;

 private:
  enum class State { kHead, kBody, kHandling };
  struct Conn {
    int fd = -1;
    State state = State::kHead;
    Clock::time_point since;
    std::uint64_t head_base = 0;  // bytes read from the socket when the head began
  };
  void set(const std::string& addr, int port, State state);
  void run();
  // Finds the server's sockets (`discover`) and drops what must go; returns whether any known
  // connection is waiting for its request head.
  bool scan(bool discover);

  int port_;
  Options o_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool accepted_ = false;  // a connection_accepted() not yet scanned for
  std::map<std::string, Conn> conns_;  // by "address|port" of the peer
  std::size_t dropped_ = 0;
  std::thread thread_;
};

}  // namespace vlrface::serve
