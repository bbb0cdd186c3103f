// serve::run: the `vlrface serve` command around a Server: memory tuning, signals, start-up
// lines.
#include <malloc.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <ctime>
#include <iostream>
#include <thread>

#include "serve.hpp"

namespace vlrface::serve {
namespace {

// An address a browser can open: 0.0.0.0 and :: are where the server listens, not places to
// go to, so this machine's host name stands in for them (NAME.local on a LAN with mDNS).
std::string open_url(const std::string& host, int port) {
  std::string h = host.find(':') != std::string::npos && host[0] != '[' ? "[" + host + "]" : host;
  if (host == "0.0.0.0" || host == "::" || host == "[::]") {
    char name[256] = {};
    h = ::gethostname(name, sizeof name - 1) == 0 && name[0] ? name : "THIS-MACHINE";
  }
  return "http://" + h + ":" + std::to_string(port) + "/";
}

}  // namespace

int run(const ModelStore& store, const std::filesystem::path& gallery, const std::string& embedder,
        const ServeOptions& o) {
  check_options(o);  // before anything is tuned or blocked
  // Memory is the budget on a Pi. Few threads allocate at once, so a second malloc arena would
  // only fragment: with one, the EdgeFace that the live engine frees when a request needs the
  // other one (Pipeline's one_embedder) is reused by that load instead of staying in another
  // thread's arena (8 enrolments in a row: RSS 63.8 MB after them with one arena, 66.0 with
  // two). A fixed mmap threshold stops glibc from raising it after the first freed frame, so
  // frame-sized buffers (~1 MB each, several per frame) go back to the system when freed instead
  // of staying in the heap.
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  // Signals are taken by one thread (below), never delivered to the engine's or the pool's.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  Server server(store, gallery, embedder, o);
  server.start();
  std::cout << "vlrface serve: listening on " << server.url() << std::endl;
  const TokenFile& token = server.token();
  if (token.generated) {
    std::cout << "vlrface serve: new access token, saved in " << token.path.string()
              << " and shown only now: " << token.token << "\n"
              << "vlrface serve: open " << open_url(o.host, server.port())
              << "?token=" << token.token << std::endl;
  } else if (server.token_required()) {
    std::cout << "vlrface serve: access token required (from " << token.path.string() << ")"
              << std::endl;
  }

  std::atomic<bool> done{false};
  std::thread signal_thread([&] {
    const timespec tick{0, 200'000'000};
    while (!done) {
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig == SIGINT || sig == SIGTERM) {
        spdlog::info("serve: signal {}, stopping", sig);
        server.stop();
        return;
      }
    }
  });
  struct JoinSignals {
    std::atomic<bool>& done;
    std::thread& t;
    ~JoinSignals() {
      done = true;
      t.join();
    }
  } join_signals{done, signal_thread};
  server.listen();
  return 0;
}

}  // namespace vlrface::serve
