// The scale benchmark's synthetic people and `vlrface bench --gallery-scale` on a small N: the
// gallery it matches against is the same on every run, its probes find their person, and the
// bench's own correctness counts (nearest person found, people loaded) come out right. No timing
// is asserted here: the figures belong to docs/BENCHMARKS.md.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "test_util.hpp"
#include "vlrface/bench_scale.hpp"
#include "vlrface/error.hpp"
#include "vlrface/match.hpp"

namespace fs = std::filesystem;
using vlrtest::read_bytes;

TEST(SyntheticPeople, SameTemplatesEveryTimeUnitLengthShortNames) {
  const vlrface::SyntheticPeople a(100, 512, 7), b(100, 512, 7), c(100, 512, 8);
  EXPECT_EQ(a.template_of(42), b.template_of(42));
  EXPECT_NE(a.template_of(42), c.template_of(42));
  EXPECT_NE(a.template_of(41), a.template_of(42));
  double n = 0;
  for (float x : a.template_of(3)) n += double(x) * x;
  EXPECT_NEAR(n, 1.0, 1e-5);
  EXPECT_EQ(vlrface::SyntheticPeople::name(42), "syn0000042");
  EXPECT_LE(vlrface::SyntheticPeople::name(9999999).size(), 15u);  // std::string's own buffer
  EXPECT_THROW(vlrface::SyntheticPeople(0, 512, 1), vlrface::Error);
  EXPECT_THROW(vlrface::SyntheticPeople(10, 0, 1), vlrface::Error);
}

TEST(SyntheticPeople, ProbeFindsItsPersonAmongTwoThousand) {
  const vlrface::SyntheticPeople people(2000, 512, 20240501);
  vlrface::Matcher m;
  m.reserve(people.size());
  people.for_each([&](const std::string& name, std::span<const float> t) { m.add(name, t); });
  ASSERT_EQ(m.size(), 2000u);
  std::mt19937 rng(1);
  for (std::size_t who : {0u, 1u, 777u, 1999u}) {
    const auto r = m.match(people.probe(who, 0.5f, rng));
    ASSERT_TRUE(r.name) << who;
    EXPECT_EQ(*r.name, vlrface::SyntheticPeople::name(who));
    EXPECT_GT(r.similarity, 0.8f);
    EXPECT_LT(r.top[1].similarity, 0.35f);  // everyone else is far: the second is unknown-level
  }
}

TEST(BenchScale, CliFillsLoadsAndFollowsASqliteGallery) {
  std::random_device rd;
  const fs::path dir = fs::temp_directory_path() / ("vlrface-bscale-" + std::to_string(rd()));
  fs::create_directories(dir);
  const std::string g = (dir / "scale.vlrg").string(), out = (dir / "out.json").string();
  const std::string cmd = std::string(VLRFACE_CLI) + " bench --gallery-scale 300 --scale-store " +
                          g + " --repeat 20 --load-repeat 2 --sync-repeat 3 --json " + out + " > " +
                          (dir / "log.txt").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_bytes(dir / "log.txt");
  const auto j = nlohmann::json::parse(read_bytes(out));
  EXPECT_EQ(j["matcher"]["people"], 300);
  EXPECT_EQ(j["matcher"]["probes"], 25);  // 5 warm-up + 20 timed
  EXPECT_EQ(j["matcher"]["nearest_found"], 25);
  EXPECT_EQ(j["matcher"]["identify_ms"]["n"], 20);
  ASSERT_EQ(j["stores"].size(), 1u);
  EXPECT_EQ(j["stores"][0]["store"], "sqlite");
  EXPECT_EQ(j["stores"][0]["written"], 300);
  EXPECT_EQ(j["stores"][0]["loaded_people"], 300);
  EXPECT_EQ(j["stores"][0]["sync_ms"]["n"], 3);
  EXPECT_EQ(j["stores"][0]["matcher_update_ms"]["n"], 3);
  EXPECT_GE(j["stores"][0]["matcher_ready_ms"]["median"].get<double>(),
            j["stores"][0]["sync_ms"]["median"].get<double>())
      << "the matcher is ready after the change is seen, not before";
  // A second run finds the people written and writes none; the sync people were removed again.
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_bytes(dir / "log.txt");
  const auto j2 = nlohmann::json::parse(read_bytes(out));
  EXPECT_EQ(j2["stores"][0]["people_before"], 300);
  EXPECT_FALSE(j2["stores"][0].contains("written"));
  // Bad input is named.
  const std::string bad = std::string(VLRFACE_CLI) + " bench --scale-store " + g + " > " +
                          (dir / "bad.txt").string() + " 2>&1";
  EXPECT_NE(std::system(bad.c_str()), 0);
  EXPECT_NE(read_bytes(dir / "bad.txt").find("--gallery-scale"), std::string::npos)
      << read_bytes(dir / "bad.txt");
  fs::remove_all(dir);
}
