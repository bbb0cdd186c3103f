// Frame sources: parsing source strings, image folders, ffmpeg-decoded video files, failures
// reported instead of thrown, and no child process left behind.
#include <gtest/gtest.h>

// vlrface_live's headers are on the include path only once this executable links vlrface_live
// (tests/CMakeLists.txt); until then the file compiles to one skipped test, so that the unit
// test build never breaks on it.
#if __has_include("frame_source.hpp")

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "frame_source.hpp"
#include "test_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace {

namespace fs = std::filesystem;
using vlrface::live::open_source;
using vlrface::live::SourceSpec;
using Kind = SourceSpec::Kind;
using Clock = std::chrono::steady_clock;

bool have_ffmpeg() {
  return std::system("ffmpeg -version >/dev/null 2>&1") == 0;
}

#define REQUIRE_FFMPEG()                                                         \
  if (!have_ffmpeg())                                                            \
  GTEST_SKIP() << "the ffmpeg program is not installed (Debian package ffmpeg; " \
                  "scripts/setup.sh installs it)"

// Frame i is a flat colour that says its index: blue = 20 * i, with green and red fixed, so
// both the order and the channel order (BGR) can be checked after a lossy codec.
cv::Mat frame_for(int i, cv::Size size = {160, 120}) {
  return cv::Mat(size, CV_8UC3, cv::Scalar(20 * i, 128, 40));
}

void write_png(const fs::path& p, const cv::Mat& m) {
  const auto bytes = vlrface::encode_png(m);
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// An MJPEG .avi of `n` frames made by the ffmpeg program, like a camera recording.
fs::path make_video(const vlrtest::TempDir& dir, int n, cv::Size size = {160, 120}) {
  const fs::path frames = dir / "frames";
  fs::create_directories(frames);
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%03d.png", i);
    write_png(frames / name, frame_for(i, size));
  }
  const fs::path out = dir / "clip.avi";
  const std::string cmd = "ffmpeg -nostdin -v error -y -framerate 25 -i '" +
                          (frames / "%03d.png").string() + "' -c:v mjpeg -q:v 2 '" + out.string() +
                          "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return out;
}

// Our children, running or zombie, from /proc.
std::vector<int> children() {
  std::vector<int> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    const int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == getpid()) out.push_back(pid);
  }
  closedir(d);
  return out;
}

double blue_of(const cv::Mat& m) {
  return cv::mean(m)[0];
}

// --- SourceSpec::parse -----------------------------------------------------------------------

TEST(SourceSpecParse, CameraIndexAndDevicePath) {
  auto s = SourceSpec::parse("0");
  EXPECT_EQ(s.kind, Kind::kCamera);
  EXPECT_EQ(s.location, "/dev/video0");
  s = SourceSpec::parse("2");
  EXPECT_EQ(s.location, "/dev/video2");
  s = SourceSpec::parse("/dev/video2");
  EXPECT_EQ(s.kind, Kind::kCamera);
  EXPECT_EQ(s.location, "/dev/video2");
  EXPECT_NE(s.describe().find("/dev/video2"), std::string::npos);
}

TEST(SourceSpecParse, StreamsAndTheirPasswordsAreMasked) {
  auto s = SourceSpec::parse("rtsp://admin:s3cret@192.168.1.20:554/stream1");
  EXPECT_EQ(s.kind, Kind::kStream);
  EXPECT_EQ(s.location, "rtsp://admin:s3cret@192.168.1.20:554/stream1");
  EXPECT_EQ(s.describe().find("s3cret"), std::string::npos) << s.describe();
  EXPECT_NE(s.describe().find("192.168.1.20"), std::string::npos);
  EXPECT_EQ(SourceSpec::parse("http://cam.local/video.mjpg").kind, Kind::kStream);
  EXPECT_EQ(SourceSpec::parse("HTTPS://cam.local/live.m3u8").kind, Kind::kStream);
  EXPECT_THROW(SourceSpec::parse("gopher://x/y"), vlrface::Error);
}

TEST(SourceSpecParse, FolderFileAndMissingFile) {
  vlrtest::TempDir dir;
  EXPECT_EQ(SourceSpec::parse(dir.path().string()).kind, Kind::kImageFolder);
  vlrtest::write_bytes(dir / "clip.mp4", "not really");
  auto s = SourceSpec::parse((dir / "clip.mp4").string());
  EXPECT_EQ(s.kind, Kind::kVideoFile);
  EXPECT_EQ(s.location, (dir / "clip.mp4").string());
  EXPECT_EQ(SourceSpec::parse("file://" + (dir / "clip.mp4").string()).location,
            (dir / "clip.mp4").string());
  const std::string missing = (dir / "nope.mp4").string();
  try {
    SourceSpec::parse(missing);
    FAIL() << "no error for a missing file";
  } catch (const vlrface::Error& e) {
    EXPECT_EQ(e.stage(), "live");
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  EXPECT_THROW(SourceSpec::parse(""), vlrface::Error);
}

// --- image folders ---------------------------------------------------------------------------

TEST(ImageFolderSource, ReadsInNaturalOrderThenEndsOrLoops) {
  vlrtest::TempDir dir;
  // 2 before 10: a plain string sort would play frame 10 second.
  for (int i : {1, 2, 3, 10}) write_png(dir / (std::to_string(i) + ".png"), frame_for(i));
  vlrtest::write_bytes(dir / "notes.txt", "ignored");
  SourceSpec spec = SourceSpec::parse(dir.path().string());
  spec.fps = 0;
  auto src = open_source(spec);
  cv::Mat f;
  for (int i : {1, 2, 3, 10}) {
    ASSERT_TRUE(src->read(f)) << src->error();
    EXPECT_EQ(f.size(), cv::Size(160, 120));
    EXPECT_EQ(f.type(), CV_8UC3);
    EXPECT_NEAR(blue_of(f), 20 * i, 1) << "frame " << i;
  }
  EXPECT_FALSE(src->read(f));
  EXPECT_EQ(src->error(), "") << "a normal end is not an error";
  EXPECT_FALSE(src->read(f));

  spec.loop = true;
  src = open_source(spec);
  std::vector<int> seen;
  for (int k = 0; k < 9; ++k) {
    ASSERT_TRUE(src->read(f)) << src->error();
    seen.push_back(static_cast<int>(std::lround(blue_of(f) / 20)));
  }
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 10, 1, 2, 3, 10, 1}));
}

TEST(ImageFolderSource, PacesAtFpsAndSkipsUnreadableImages) {
  vlrtest::TempDir dir;
  for (int i = 0; i < 4; ++i) write_png(dir / (std::to_string(i) + ".png"), frame_for(i));
  vlrtest::write_bytes(dir / "1b.jpg", "broken");  // between 1 and 2 in natural order
  SourceSpec spec = SourceSpec::parse(dir.path().string());
  spec.fps = 20;
  auto src = open_source(spec);
  cv::Mat f;
  const auto t0 = Clock::now();
  int n = 0;
  while (src->read(f)) ++n;
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(n, 4);
  EXPECT_EQ(src->error(), "");
  EXPECT_GE(s, 0.14) << "4 frames at 20 fps take 3 frame periods at least";
}

TEST(ImageFolderSource, MissingOrEmptyFolderIsAnErrorNamingIt) {
  vlrtest::TempDir dir;
  SourceSpec spec;
  spec.kind = Kind::kImageFolder;
  spec.location = dir.path().string();
  try {
    open_source(spec);
    FAIL() << "no error for an empty folder";
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path().string()), std::string::npos) << e.what();
  }
  spec.location = (dir / "gone").string();
  EXPECT_THROW(open_source(spec), vlrface::Error);
}

TEST(ImageFolderSource, InterruptWakesAPacedRead) {
  vlrtest::TempDir dir;
  write_png(dir / "a.png", frame_for(1));
  SourceSpec spec = SourceSpec::parse(dir.path().string());
  spec.fps = 0.2;  // one frame every 5 s
  spec.loop = true;
  auto src = open_source(spec);
  cv::Mat f;
  ASSERT_TRUE(src->read(f));
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    src->interrupt();
  });
  const auto t0 = Clock::now();
  EXPECT_FALSE(src->read(f));
  t.join();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.0);
  EXPECT_EQ(src->error(), "");
}

// --- video files through ffmpeg --------------------------------------------------------------

TEST(VideoFileSource, YieldsEveryFrameAtTheRightSizeInOrder) {
  REQUIRE_FFMPEG();
  vlrtest::TempDir dir;
  const fs::path video = make_video(dir, 10);
  SourceSpec spec = SourceSpec::parse(video.string());
  spec.fps = 0;  // as fast as decoded
  auto src = open_source(spec);
  cv::Mat f;
  int n = 0;
  while (src->read(f)) {
    ASSERT_EQ(f.size(), cv::Size(160, 120));
    ASSERT_EQ(f.type(), CV_8UC3);
    // Blue carries the index, red stays 40: a swapped channel order would show at once.
    EXPECT_NEAR(blue_of(f), 20 * n, 8) << "frame " << n;
    EXPECT_NEAR(cv::mean(f)[2], 40, 8);
    ++n;
  }
  EXPECT_EQ(src->error(), "") << "a normal end is not an error";
  EXPECT_EQ(n, 10);
  src.reset();
  EXPECT_TRUE(children().empty());
}

TEST(VideoFileSource, LoopsAndShrinksLargeFrames) {
  REQUIRE_FFMPEG();
  vlrtest::TempDir dir;
  const fs::path video = make_video(dir, 5, {400, 300});
  SourceSpec spec = SourceSpec::parse(video.string());
  spec.fps = 0;
  spec.loop = true;
  spec.max_side = 200;
  auto src = open_source(spec);
  cv::Mat f;
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(src->read(f)) << "frame " << i << ": " << src->error();
    EXPECT_EQ(f.size(), cv::Size(200, 150));
  }
}

TEST(VideoFileSource, PlaysAtItsOwnRateWhenFpsIsSet) {
  REQUIRE_FFMPEG();
  vlrtest::TempDir dir;
  const fs::path video = make_video(dir, 40);  // 25 fps: 1.6 s
  SourceSpec spec = SourceSpec::parse(video.string());
  spec.fps = 30;
  auto src = open_source(spec);
  cv::Mat f;
  const auto t0 = Clock::now();
  int n = 0;
  while (src->read(f)) ++n;
  EXPECT_EQ(n, 40);
  // Newer ffmpeg releases send the first 0.5 s at once (-readrate_initial_burst).
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - t0).count(), 0.9);
}

TEST(VideoFileSource, MissingOrCorruptFileIsReportedNotThrown) {
  REQUIRE_FFMPEG();
  vlrtest::TempDir dir;
  SourceSpec spec;
  spec.kind = Kind::kVideoFile;
  spec.location = (dir / "gone.mp4").string();
  std::unique_ptr<vlrface::live::FrameSource> src;
  ASSERT_NO_THROW(src = open_source(spec));
  cv::Mat f;
  EXPECT_FALSE(src->read(f));
  EXPECT_NE(src->error().find("gone.mp4"), std::string::npos) << src->error();

  std::string junk(20000, '\0');
  for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>(i * 7919 % 251);
  vlrtest::write_bytes(dir / "corrupt.mp4", junk);
  spec.location = (dir / "corrupt.mp4").string();
  ASSERT_NO_THROW(src = open_source(spec));
  EXPECT_FALSE(src->read(f));
  EXPECT_NE(src->error().find("corrupt.mp4"), std::string::npos) << src->error();
  EXPECT_FALSE(src->read(f));
  src.reset();
  EXPECT_TRUE(children().empty());
}

TEST(CameraSource, AbsentCameraIsReportedNotThrown) {
  REQUIRE_FFMPEG();
  SourceSpec spec = SourceSpec::parse("/dev/video97");
  auto src = open_source(spec);
  cv::Mat f;
  EXPECT_FALSE(src->read(f));
  EXPECT_NE(src->error().find("/dev/video97"), std::string::npos) << src->error();
}

TEST(VideoFileSource, DestroyedOrInterruptedMidStreamLeavesNoChild) {
  REQUIRE_FFMPEG();
  vlrtest::TempDir dir;
  const fs::path video = make_video(dir, 5);
  SourceSpec spec = SourceSpec::parse(video.string());
  spec.loop = true;  // never ends by itself, paced at 25 fps
  {
    auto src = open_source(spec);
    cv::Mat f;
    ASSERT_TRUE(src->read(f)) << src->error();
    EXPECT_EQ(children().size(), 1u) << "ffmpeg runs while frames are read";
  }
  EXPECT_TRUE(children().empty()) << "the ffmpeg child was not reaped";

  auto src = open_source(spec);
  cv::Mat f;
  ASSERT_TRUE(src->read(f)) << src->error();
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    src->interrupt();
  });
  const auto t0 = Clock::now();
  while (src->read(f)) {
  }
  t.join();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 2.0);
  EXPECT_EQ(src->error(), "") << "an interruption is not a failure";
  EXPECT_TRUE(children().empty());
}

}  // namespace

#else

TEST(LiveSources, NotBuilt) {
  GTEST_SKIP() << "vlrface_unit_tests does not link vlrface_live: add vlrface_live to its "
                  "target_link_libraries in tests/CMakeLists.txt";
}

#endif
