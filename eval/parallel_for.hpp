// Private to eval: the work of one evaluation pass spread over worker threads, each with its own
// networks.
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vlrface::evaluation {

using ProgressFn = std::function<void(const std::string& stage, std::size_t done, std::size_t total)>;

// Runs task(worker, i) for every i < n on `workers` threads; the first error stops the others
// and is rethrown here, so a broken image fails the run with its own message.
template <class Task>
void parallel_for(int workers, std::size_t n, const std::string& label, const ProgressFn& progress,
                  Task task) {
  std::atomic<std::size_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (std::size_t i = next++; i < n && !failed; i = next++) {
        try {
          task(w, i);
        } catch (...) {
          const std::lock_guard lock(error_mutex);
          if (!error) error = std::current_exception();
          failed = true;
        }
        ++done;
      }
    });
  }
  for (int tick = 0; done < n && !failed; ++tick) {
    if (progress && tick % 10 == 0) progress(label, done, n);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& t : threads) t.join();
  if (progress) progress(label, n, n);
  if (error) std::rethrow_exception(error);
}

}  // namespace vlrface::evaluation
