#include "bench_scale.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/core/utility.hpp>
#include <random>
#include <thread>

#include "vlrface/bench.hpp"
#include "vlrface/bench_scale.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"
#include "vlrface/match.hpp"

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace vlrface::cli {
namespace {

constexpr int kDim = 512;                  // EdgeFace's embedding length
constexpr std::uint32_t kSeed = 20240501;  // the same people on every run and machine
constexpr float kProbeNoise = 0.5f;
// Synthetic galleries record this model id; a real gallery's model would refuse them.
const char* const kModelId = "synthetic-bench/512";

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The face image every synthetic face stores: the gallery requires one, its content is not used.
cv::Mat grey_face() {
  return cv::Mat(112, 112, CV_8UC3, cv::Scalar(128, 128, 128));
}

json bench_matcher(const SyntheticPeople& people, int repeat) {
  // One core, as a Pi's busy live loop would leave it: no parallel scoring.
  const int threads_before = cv::getNumThreads();
  cv::setNumThreads(1);
  const std::int64_t rss0 = current_rss_kib();
  const auto t0 = Clock::now();
  Matcher m;
  m.reserve(people.size());
  people.for_each([&](const std::string& name, std::span<const float> t) { m.add(name, t); });
  const double build_s = seconds_since(t0);
  const std::int64_t rss1 = current_rss_kib();
  const double raw_kib = double(people.size()) * kDim * sizeof(float) / 1024.0;

  std::mt19937 rng(kSeed + 1);
  std::uniform_int_distribution<std::size_t> pick(0, people.size() - 1);
  std::vector<std::pair<std::size_t, std::vector<float>>> probes;
  for (int i = 0; i < 16; ++i) {
    const std::size_t who = pick(rng);
    probes.emplace_back(who, people.probe(who, kProbeNoise, rng));
  }
  int found = 0, next = 0, calls = 0;
  const auto ms = time_ms(
      [&] {
        const auto& [who, probe] = probes[static_cast<std::size_t>(next++ % probes.size())];
        const MatchResult r = m.match(probe, {.top_k = 5, .threshold = 0.35f});
        ++calls;
        if (r.name && *r.name == SyntheticPeople::name(who)) ++found;
      },
      5, repeat);
  cv::setNumThreads(threads_before);
  const SampleStats s = summarise(ms);
  json j = {{"people", people.size()},
            {"dim", kDim},
            {"threads", 1},
            {"identify_ms", {{"median", s.median}, {"p10", s.p10}, {"p90", s.p90}, {"n", s.count}}},
            {"nearest_found", found},
            {"probes", calls},
            {"build_s", build_s},
            {"templates_raw_kib", raw_kib},
            {"matcher_rss_kib", rss1 - rss0},
            {"memory_ratio", double(rss1 - rss0) / raw_kib}};
  std::printf("matcher: %zu people x %d-d, 1 thread\n", people.size(), kDim);
  std::printf(
      "  identify (one probe, top 5): median %.3f ms (p10 %.3f, p90 %.3f, %zu probes); "
      "nearest person found %d of %d\n",
      s.median, s.p10, s.p90, s.count, found, calls);
  std::printf("  memory: %lld KiB resident for the matcher, templates raw %.0f KiB: %.3fx\n",
              static_cast<long long>(rss1 - rss0), raw_kib, double(rss1 - rss0) / raw_kib);
  std::printf("  built in %.2f s\n", build_s);
  std::fflush(stdout);  // before the stores' progress lines on stderr
  return j;
}

// Writes the synthetic people the store lacks (by count: a store holds syn0..syn(k-1) from an
// earlier run, or nobody) in transactions of kWriteBatch people (Gallery::enroll_many), as a bulk
// load does; the follower measurement below times single enrolments, as a node's arrive.
constexpr std::size_t kWriteBatch = 1000;

json fill_store(Gallery& g, const SyntheticPeople& people) {
  const std::size_t have = g.size();
  json j = {{"people_before", have}};
  if (have >= people.size()) return j;
  const cv::Mat face = grey_face();
  const auto t0 = Clock::now();
  auto last_print = t0;
  for (std::size_t i = have; i < people.size(); i += kWriteBatch) {
    std::vector<Enrolment> batch;
    for (std::size_t k = i; k < std::min(people.size(), i + kWriteBatch); ++k) {
      batch.push_back({SyntheticPeople::name(k), {{face, people.template_of(k), "synthetic"}}});
    }
    g.enroll_many(batch);
    if (seconds_since(last_print) > 10) {
      last_print = Clock::now();
      std::fprintf(stderr, "  writing: %zu of %zu people (%.0f s)\n", i + batch.size(),
                   people.size(), seconds_since(t0));
    }
  }
  const double s = seconds_since(t0);
  j["written"] = people.size() - have;
  j["write_s"] = s;
  j["write_batch"] = kWriteBatch;
  std::printf("  wrote %zu people in %.1f s (%.0f people/s, transactions of %zu)\n",
              people.size() - have, s, double(people.size() - have) / s, kWriteBatch);
  return j;
}

json bench_store(const std::string& location, const SyntheticPeople& people,
                 const ScaleBenchOptions& o) {
  std::printf("store %s\n", is_database_gallery(location) ? "(PostgreSQL)" : location.c_str());
  std::fflush(stdout);
  json j;
  {
    Gallery g(location, kModelId);
    j = fill_store(g, people);
  }
  // A node starting: open the gallery, build the matcher row by row.
  std::vector<double> load_s;
  std::size_t loaded = 0;
  for (int r = 0; r < o.load_repeat; ++r) {
    const auto t0 = Clock::now();
    Gallery g(location, kModelId);
    Matcher m;
    m.reserve(g.size());
    g.for_each_template([&](PersonTemplate&& t) { m.add(t.name, t.embedding); });
    load_s.push_back(seconds_since(t0));
    loaded = m.size();
  }
  const SampleStats ls = summarise(load_s);
  j["load_s"] = {{"median", ls.median}, {"min", ls.min}, {"max", ls.max}, {"n", ls.count}};
  j["loaded_people"] = loaded;
  std::printf(
      "  load at start (open + matcher of %zu people): median %.2f s (min %.2f, max "
      "%.2f, %zu loads)\n",
      loaded, ls.median, ls.min, ls.max, ls.count);

  // A follower: how long after an enrolment starts on one Gallery does another see it?
  Gallery leader(location, kModelId), follower(location, kModelId);
  follower.refresh_if_changed();
  const cv::Mat face = grey_face();
  std::vector<double> sync_ms, enrol_ms;
  for (int r = 0; r < o.sync_repeat; ++r) {
    const std::string name = "sync" + std::to_string(r);
    const auto t0 = Clock::now();
    leader.enroll(name, {{face, people.template_of(r), "synthetic"}});
    enrol_ms.push_back(seconds_since(t0) * 1000);
    bool seen = false;
    while (!(seen = follower.refresh_if_changed()) && seconds_since(t0) < 30) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!seen) throw Error("bench", "the follower did not see an enrolment within 30 s");
    sync_ms.push_back(seconds_since(t0) * 1000);
    if (!follower.has_person(name))
      throw Error("bench", "the follower saw a change without " + name);
    leader.remove_person(name);
    // The removal is news to the follower too: consumed before the next measurement.
    const auto t1 = Clock::now();
    while (!follower.refresh_if_changed() && seconds_since(t1) < 30) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  const SampleStats ss = summarise(sync_ms), es = summarise(enrol_ms);
  j["sync_ms"] = {{"median", ss.median}, {"max", ss.max}, {"n", ss.count}};
  j["enrol_ms"] = {{"median", es.median}, {"n", es.count}};
  std::printf(
      "  sync to a follower (enrol starts -> refresh_if_changed() true): median %.1f ms, "
      "max %.1f ms (%zu enrolments; the enrolment itself: median %.1f ms)\n",
      ss.median, ss.max, ss.count, es.median);
  std::fflush(stdout);
  return j;
}

}  // namespace

int run_scale_bench(const ScaleBenchOptions& o) {
  if (o.repeat < 1 || o.load_repeat < 1 || o.sync_repeat < 1) {
    throw Error("cli", "--repeat, --load-repeat and --sync-repeat must be >= 1");
  }
  const SyntheticPeople people(o.people, kDim, kSeed);
  json out = {{"matcher", bench_matcher(people, o.repeat)}, {"stores", json::array()}};
  for (const std::string& s : o.stores) {
    json st = bench_store(s, people, o);
    st["store"] = is_database_gallery(s) ? "postgresql" : "sqlite";
    out["stores"].push_back(st);
  }
  if (!o.json.empty()) {
    std::ofstream f(o.json);
    f << out.dump(2) << "\n";
    if (!f) throw Error("cli", "cannot write " + o.json);
  }
  return 0;
}

}  // namespace vlrface::cli
