// A `vlrface serve` child process for the model tests (test_serve_api, test_serve_postgres):
// started with arguments, its stdout's first line read to learn where it listens, stopped with
// SIGTERM (its exit status returned), killed and reaped by the destructor otherwise.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace serve_test {

// A running `vlrface serve`; stop() sends SIGTERM and returns the exit status.
class ServeProcess {
 public:
  bool start(const std::vector<std::string>& args, const std::filesystem::path& log) {
    int out[2];
    if (::pipe(out) != 0) return false;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(err, 2);
      ::close(out[0]);
      std::vector<char*> argv{const_cast<char*>(VLRFACE_CLI)};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(VLRFACE_CLI, argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = ::fdopen(out[0], "r");
    // The first line of stdout says where it listens, or the process ends with an error.
    pollfd pfd{out[0], POLLIN, 0};
    if (::poll(&pfd, 1, 60000) <= 0) return false;
    char line[512] = {};
    if (!std::fgets(line, sizeof line, out_)) return false;
    first_line_ = line;
    const auto at = first_line_.rfind(':');
    const std::string prefix = "vlrface serve: listening on http://";
    if (first_line_.rfind(prefix, 0) != 0 || at == std::string::npos) return false;
    port_ = std::stoi(first_line_.substr(at + 1));
    return true;
  }
  // The remaining stdout (after the process ended).
  std::string rest() {
    std::string s;
    char buf[4096];
    while (out_ && std::fgets(buf, sizeof buf, out_)) s += buf;
    return s;
  }
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    return wait(20);
  }
  // Exit status, or -1 if it did not end within `seconds` (then it is killed).
  int wait(int seconds) {
    for (int i = 0; i < seconds * 20; ++i) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = 0;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
    return -1;
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_) std::fclose(out_);
  }
  int port() const { return port_; }
  const std::string& first_line() const { return first_line_; }

 private:
  pid_t pid_ = 0;
  FILE* out_ = nullptr;
  int port_ = 0;
  std::string first_line_;
};

}  // namespace serve_test
