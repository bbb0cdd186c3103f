// SourceReader: the live engine's capture thread, without models: states, back-off, stop.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "source_reader.hpp"
#include "test_util.hpp"
#include "vlrface/image_io.hpp"

namespace {

namespace fs = std::filesystem;
using vlrface::live::SourceReader;
using vlrface::live::SourceSpec;
using Clock = std::chrono::steady_clock;

void write_png(const fs::path& p, int blue) {
  const auto bytes = vlrface::encode_png(cv::Mat(40, 60, CV_8UC3, cv::Scalar(blue, 128, 40)));
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// What the callbacks saw, and a way to wait for a state.
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> states, errors;
  int frames = 0;

  SourceReader::Callbacks callbacks() {
    return {.frame =
                [this](cv::Mat f) {
                  std::lock_guard lk(mu);
                  frames += f.cols == 60 && f.rows == 40;
                },
            .state =
                [this](const std::string& s, const std::string& e) {
                  {
                    std::lock_guard lk(mu);
                    states.push_back(s);
                    errors.push_back(e);
                  }
                  cv.notify_all();
                }};
  }
  // True once `n` states have been reported, the last starting with `prefix`.
  bool wait_for(std::size_t n, const std::string& prefix, double seconds) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::duration<double>(seconds), [&] {
      return states.size() >= n && states[n - 1].rfind(prefix, 0) == 0;
    });
  }
};

TEST(SourceReader, PlaysAFiniteFolderOnceThenSaysItEnded) {
  vlrtest::TempDir dir;
  for (int i = 1; i <= 3; ++i) write_png(dir / (std::to_string(i) + ".png"), 20 * i);
  SourceSpec spec = SourceSpec::parse(dir.path().string());
  spec.fps = 0;
  Seen seen;
  SourceReader reader(spec, seen.callbacks());
  reader.start();
  ASSERT_TRUE(seen.wait_for(3, "ended", 10)) << "states: " << seen.states.size();
  reader.stop();
  EXPECT_EQ(seen.states, (std::vector<std::string>{"opening", "running", "ended"}));
  EXPECT_EQ(seen.frames, 3);
  EXPECT_NE(seen.errors[2].find("played to its end"), std::string::npos) << seen.errors[2];
  EXPECT_NE(seen.errors[2].find(dir.path().string()), std::string::npos) << seen.errors[2];
}

TEST(SourceReader, RetriesAFailingSourceLessOftenAndStopsDuringTheWait) {
  vlrtest::TempDir dir;
  const fs::path gone = dir / "camera-folder";
  fs::create_directories(gone);
  write_png(gone / "1.png", 10);
  const SourceSpec spec = SourceSpec::parse(gone.string());  // parsed while it exists
  fs::remove_all(gone);
  Seen seen;
  SourceReader reader(spec, seen.callbacks());
  reader.start();
  // opening, retrying in 0.5 s, opening, retrying in 1.0 s: the back-off doubles.
  ASSERT_TRUE(seen.wait_for(4, "retrying in 1.0 s", 10));
  const auto t0 = Clock::now();
  reader.stop();  // in the middle of the 1 s wait
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 0.5);
  std::size_t before = 0;
  {
    std::lock_guard lk(seen.mu);
    EXPECT_EQ(seen.states[1].rfind("retrying in 0.5 s: ", 0), 0u) << seen.states[1];
    EXPECT_NE(seen.errors[1].find(gone.string()), std::string::npos) << seen.errors[1];
    EXPECT_EQ(seen.frames, 0);
    before = seen.states.size();
  }
  // Restartable after stop(), as LiveEngine::start() after stop() needs.
  fs::create_directories(gone);
  write_png(gone / "1.png", 10);
  reader.start();
  EXPECT_TRUE(seen.wait_for(before + 3, "ended", 10));
  reader.stop();
  EXPECT_EQ(seen.frames, 1);
}

}  // namespace
