// Progress output on a terminal and elsewhere, with a fake clock and a string as the stream.
#include <gtest/gtest.h>

#include <sstream>

#include "vlrface/progress.hpp"

namespace {

struct FakeClock {
  double t = 100;
  vlrface::ProgressOptions options(double line_s = 10) {
    vlrface::ProgressOptions o;
    o.clock = [this] { return t; };
    o.line_s = line_s;
    o.redraw_s = 0.1;
    o.bar_width = 10;
    return o;
  }
};

std::size_t count(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (auto p = s.find(part); p != std::string::npos; p = s.find(part, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(Progress, StatusTextGivesCountRateAndTimeLeft) {
  using vlrface::Progress;
  EXPECT_EQ(Progress::status_text(0, 530, 0), "0/530");
  EXPECT_EQ(Progress::status_text(100, 500, 10), "100/500 (10/s, 40 s left)");
  EXPECT_EQ(Progress::status_text(5, 10, 2), "5/10 (2.5/s, 2.0 s left)");
  EXPECT_EQ(Progress::status_text(10, 1000, 10), "10/1000 (1.0/s, 16 min 30 s left)");
  EXPECT_EQ(Progress::status_text(1, 10000, 1), "1/10000 (1.0/s, 2 h 46 min left)");
  EXPECT_EQ(Progress::status_text(530, 530, 24), "530/530 (22/s)");
}

TEST(Progress, PlainLinesAreTimedNotPerItem) {
  FakeClock clock;
  std::ostringstream out;
  {
    vlrface::Progress p(out, false, "enroll", 800, clock.options(10));
    for (int i = 1; i <= 800; ++i) {
      clock.t += 0.0625;  // 16 items a second (exact in binary): 50 s in all
      p.update(static_cast<std::size_t>(i));
    }
    EXPECT_EQ(out.str().find('\r'), std::string::npos) << "no redraws in a log";
    EXPECT_EQ(out.str().find("\033["), std::string::npos) << "no escape codes in a log";
    // One line per 10 s of work, not one per item.
    EXPECT_EQ(count(out.str(), "\n"), 5u) << out.str();
    EXPECT_NE(out.str().find("vlrface: enroll: 160/800 (16/s, 40 s left)\n"), std::string::npos)
        << out.str();
  }  // the destructor prints the last line
  EXPECT_NE(out.str().find("vlrface: enroll: 800/800 in 50 s\n"), std::string::npos)
      << out.str();
  EXPECT_EQ(count(out.str(), "\n"), 6u) << out.str();
}

TEST(Progress, ShortWorkOffATerminalPrintsOneLine) {
  FakeClock clock;
  std::ostringstream out;
  vlrface::Progress p(out, false, "eval: 112 px", 3, clock.options(10));
  for (std::size_t i = 1; i <= 3; ++i) {
    clock.t += 0.5;
    p.update(i);
  }
  p.finish();
  p.finish();  // idempotent
  EXPECT_EQ(out.str(), "vlrface: eval: 112 px: 3/3 in 1.5 s\n");
}

TEST(Progress, TerminalRedrawsOneLineAndClearsIt) {
  FakeClock clock;
  std::ostringstream out;
  vlrface::Progress p(out, true, "enroll", 10, clock.options());
  clock.t += 0.0625;
  p.update(1);
  EXPECT_EQ(out.str(), "") << "throttled: redrawn at most every 0.1 s";
  clock.t += 0.9375;  // 1 s: 5 done
  p.update(5);
  EXPECT_EQ(out.str(), "\renroll [#####     ] 5/10 (5.0/s, 1.0 s left)\033[K");
  clock.t += 1;
  p.update(10);
  EXPECT_EQ(count(out.str(), "\r"), 2u);
  EXPECT_NE(out.str().find("[##########] 10/10 (5.0/s)"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find('\n'), std::string::npos) << "a bar never scrolls";
  p.finish();
  EXPECT_TRUE(out.str().ends_with("\r\033[K")) << "the bar is erased when done";
}

TEST(Progress, CountsNeverGoBackwardsOrPastTheTotal) {
  FakeClock clock;
  std::ostringstream out;
  vlrface::Progress p(out, false, "x", 4, clock.options(1));
  clock.t += 2;
  p.update(3);
  clock.t += 2;
  p.update(1);  // a late report from another worker
  clock.t += 2;
  p.update(9);
  p.finish();
  EXPECT_NE(out.str().find("x: 3/4"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("x: 1/4"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("x: 4/4 in 6.0 s"), std::string::npos) << out.str();
}
