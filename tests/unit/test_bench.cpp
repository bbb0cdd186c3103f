#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>

#include "vlrface/bench.hpp"
#include "vlrface/error.hpp"

TEST(BenchStats, OddCountMedianAndPercentiles) {
  // Sorted: 1 3 5. Positions p/100 * (n-1): p10 -> 0.2, p90 -> 1.8 (numpy's "linear").
  const auto s = vlrface::summarise({5, 1, 3});
  EXPECT_EQ(s.count, 3u);
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.p10, 1.4);
  EXPECT_DOUBLE_EQ(s.p90, 4.6);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(s.mean, 3);
}

TEST(BenchStats, EvenCountMedianIsMeanOfMiddlePair) {
  const auto s = vlrface::summarise({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.p10, 1.3);
  EXPECT_DOUBLE_EQ(s.p90, 3.7);
}

TEST(BenchStats, TenSamplesMatchNumpy) {
  // numpy.percentile(range(1, 11), [10, 50, 90]) == [1.9, 5.5, 9.1]
  std::vector<double> v;
  for (int i = 10; i >= 1; --i) v.push_back(i);
  const auto s = vlrface::summarise(v);
  EXPECT_NEAR(s.p10, 1.9, 1e-12);
  EXPECT_NEAR(s.median, 5.5, 1e-12);
  EXPECT_NEAR(s.p90, 9.1, 1e-12);
}

TEST(BenchStats, SingleSampleAndEdges) {
  const auto s = vlrface::summarise({7.25});
  EXPECT_DOUBLE_EQ(s.median, 7.25);
  EXPECT_DOUBLE_EQ(s.p10, 7.25);
  EXPECT_DOUBLE_EQ(s.p90, 7.25);
  EXPECT_DOUBLE_EQ(vlrface::percentile_sorted({1, 2, 3}, 0), 1);
  EXPECT_DOUBLE_EQ(vlrface::percentile_sorted({1, 2, 3}, 100), 3);
}

TEST(BenchStats, RejectsNoSamplesAndNonFinite) {
  EXPECT_THROW(vlrface::summarise({}), vlrface::Error);
  EXPECT_THROW(vlrface::summarise({1, std::numeric_limits<double>::quiet_NaN()}), vlrface::Error);
  EXPECT_THROW(vlrface::percentile_sorted({1, 2}, 101), vlrface::Error);
}

TEST(BenchTiming, RunsWarmupPlusRepeatAndReturnsRepeatSamples) {
  int calls = 0;
  const auto ms = vlrface::time_ms([&] { ++calls; }, 3, 5);
  EXPECT_EQ(calls, 8);
  ASSERT_EQ(ms.size(), 5u);
  for (double x : ms) EXPECT_GE(x, 0.0);
  EXPECT_THROW(vlrface::time_ms([] {}, 0, 0), vlrface::Error);
  EXPECT_THROW(vlrface::time_ms([] {}, -1, 1), vlrface::Error);
}

TEST(BenchTiming, InterleavedAlternatesOrderAndReturnsPerFunctionSamples) {
  std::string order;
  const auto ms =
      vlrface::time_interleaved_ms({[&] { order += 'a'; }, [&] { order += 'b'; }}, 1, 3);
  // One warm-up round, then three timed ones; the order flips every round.
  EXPECT_EQ(order, "abbaabba");
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0].size(), 3u);
  EXPECT_EQ(ms[1].size(), 3u);
  EXPECT_THROW(vlrface::time_interleaved_ms({}, 0, 1), vlrface::Error);
  EXPECT_THROW(vlrface::time_interleaved_ms({[] {}}, 0, 0), vlrface::Error);
  EXPECT_THROW(vlrface::time_interleaved_ms({[] {}}, -1, 1), vlrface::Error);
}

TEST(BenchTiming, InterleavedSamplesBelongToTheirFunction) {
  // A sleeps, B does not: whichever position it ran in, A's samples must be the long ones.
  const auto ms = vlrface::time_interleaved_ms(
      {[] { std::this_thread::sleep_for(std::chrono::milliseconds(3)); }, [] {}}, 0, 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_GE(ms[0][static_cast<std::size_t>(i)], 2.5);
    EXPECT_LT(ms[1][static_cast<std::size_t>(i)], ms[0][static_cast<std::size_t>(i)]);
  }
}

TEST(BenchMemory, ParsesStatusLines) {
  const std::string text = "Name:\tx\nVmHWM:\t   12345 kB\nVmRSS:\t  678 kB\nThreads:\t3\n";
  EXPECT_EQ(vlrface::parse_status_kib(text, "VmHWM"), 12345);
  EXPECT_EQ(vlrface::parse_status_kib(text, "VmRSS"), 678);
  EXPECT_FALSE(vlrface::parse_status_kib(text, "VmSwap"));
  EXPECT_FALSE(vlrface::parse_status_kib("VmHWM:\tlots\n", "VmHWM"));
}

TEST(BenchMemory, PeakRssGrowsAfterTouching64MB) {
  constexpr std::size_t kBytes = 64u << 20;
  const std::int64_t current_before = vlrface::current_rss_kib();
  const std::int64_t peak_before = vlrface::peak_rss_kib();
  EXPECT_GE(peak_before, current_before);
  {
    // Untouched pages are not resident: write one byte per page so all 64 MB count.
    std::unique_ptr<char[]> block(new char[kBytes]);
    volatile char* p = block.get();
    for (std::size_t i = 0; i < kBytes; i += 4096) p[i] = static_cast<char>(i);
    const std::int64_t peak_after = vlrface::peak_rss_kib();
    // Measured from the current RSS, not the earlier peak: tests that ran before in this
    // process may have set a higher peak already.
    EXPECT_GE(peak_after - current_before, 60 * 1024);
    EXPECT_GE(peak_after, peak_before);
    EXPECT_GE(vlrface::current_rss_kib() - current_before, 60 * 1024);
  }
  const auto m = vlrface::process_memory();
  EXPECT_GE(m.peak_kib, m.current_kib);
  if (m.anon_kib >= 0) EXPECT_LE(m.anon_kib + m.file_kib, m.current_kib);
  EXPECT_GE(vlrface::process_thread_count(), 1);
}
