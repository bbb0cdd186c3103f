#include "bench_scale.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
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
#include "vlrface/match_f32.hpp"
#include "vlrface/matcher_sync.hpp"

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

// CPU time of this thread: on a shared machine the wall time also counts the time other
// processes held the core, the thread's own CPU time does not.
double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

json stats_json(const SampleStats& s) {
  return {{"median", s.median}, {"p10", s.p10}, {"p90", s.p90}, {"n", s.count}};
}

// Builds a matcher of the synthetic people row by row; the RSS it added, in KiB.
template <class M>
std::int64_t build(M& m, const SyntheticPeople& people, double& build_s) {
  const std::int64_t rss0 = current_rss_kib();
  const auto t0 = Clock::now();
  m.reserve(people.size());
  people.for_each([&](const std::string& name, std::span<const float> t) { m.add(name, t); });
  build_s = seconds_since(t0);
  return current_rss_kib() - rss0;
}

json bench_matcher(const SyntheticPeople& people, int repeat, bool baseline) {
  // One core, as a Pi's busy live loop would leave it: no parallel scoring.
  const int threads_before = cv::getNumThreads();
  cv::setNumThreads(1);
  const double raw_kib = double(people.size()) * kDim * sizeof(float) / 1024.0;
  double build_s = 0, f32_build_s = 0;
  Matcher m;
  const std::int64_t rss = build(m, people, build_s);
  Float32Matcher f32;
  const std::int64_t f32_rss = baseline ? build(f32, people, f32_build_s) : 0;

  std::mt19937 rng(kSeed + 1);
  std::uniform_int_distribution<std::size_t> pick(0, people.size() - 1);
  std::vector<std::pair<std::size_t, std::vector<float>>> probes;
  for (int i = 0; i < 16; ++i) {
    const std::size_t who = pick(rng);
    probes.emplace_back(who, people.probe(who, kProbeNoise, rng));
  }
  // Both matchers answer the same probe in each round (time_interleaved_ms), so the load of the
  // moment falls on both alike; their answers are compared afterwards, probe by probe.
  int found = 0, next = 0, calls = 0, f32_next = 0, agree = 0, compared = 0, i8_next = 0;
  double max_diff = 0, rescored = 0, refined = 0;
  bool coarse = false;
  std::vector<double> cpu, f32_cpu, i8_cpu;
  std::vector<MatchResult> answers, f32_answers, i8_answers;
  std::vector<std::function<void()>> runs{[&] {
    const auto& [who, probe] = probes[static_cast<std::size_t>(next++ % probes.size())];
    MatchStats st;
    const double c0 = thread_cpu_ms();
    const MatchResult r = m.match(probe, {.top_k = 5, .threshold = 0.35f}, st);
    cpu.push_back(thread_cpu_ms() - c0);
    ++calls;
    rescored += double(st.rescored);
    refined += double(st.refined);
    coarse = st.coarse;
    if (r.name && *r.name == SyntheticPeople::name(who)) ++found;
    answers.push_back(r);
  }};
  if (baseline) {
    runs.push_back([&] {
      const auto& probe = probes[static_cast<std::size_t>(f32_next++ % probes.size())].second;
      const double c0 = thread_cpu_ms();
      const MatchResult r = f32.match(probe, {.top_k = 5, .threshold = 0.35f});
      f32_cpu.push_back(thread_cpu_ms() - c0);
      f32_answers.push_back(r);
    });
  }
  // The same matcher with its int8 first pass only (what it runs below the 4-bit pass's size),
  // when the 4-bit pass is what it chose: the gain of that pass, measured in the same run.
  const bool compare_int8 =
      people.size() * static_cast<std::size_t>(kDim) >= (std::size_t{1} << 22);
  if (compare_int8) {
    runs.push_back([&] {
      const auto& probe = probes[static_cast<std::size_t>(i8_next++ % probes.size())].second;
      const double c0 = thread_cpu_ms();
      const MatchResult r =
          m.match(probe, {.top_k = 5, .threshold = 0.35f, .scan = ScanMode::kInt8});
      i8_cpu.push_back(thread_cpu_ms() - c0);
      i8_answers.push_back(r);
    });
  }
  const auto ms = time_interleaved_ms(runs, 5, repeat);
  cv::setNumThreads(threads_before);
  // The i-th call of each answered the same probe.
  for (std::size_t i = 0; i < f32_answers.size() && i < answers.size(); ++i) {
    const MatchResult &q = answers[i], &r = f32_answers[i];
    ++compared;
    bool same = q.name == r.name && q.top.size() == r.top.size();
    for (std::size_t t = 0; same && t < q.top.size(); ++t) {
      same = q.top[t].name == r.top[t].name;
      max_diff = std::max(max_diff, double(std::abs(q.top[t].similarity - r.top[t].similarity)));
    }
    if (same) ++agree;
  }
  const std::size_t warm = cpu.size() - ms[0].size();
  const SampleStats s = summarise(ms[0]);
  const SampleStats sc =
      summarise(std::vector<double>(cpu.begin() + static_cast<long>(warm), cpu.end()));
  json j = {{"people", people.size()},
            {"dim", kDim},
            {"threads", 1},
            {"int8_path", Matcher::scan_path()},
            {"identify_ms", stats_json(s)},
            {"identify_cpu_ms", stats_json(sc)},
            {"rescored_rows_mean", rescored / calls},
            {"first_pass", coarse ? "4-bit" : "int8"},
            {"coarse_path", Matcher::coarse_path()},
            {"refined_rows_mean", refined / calls},
            {"nearest_found", found},
            {"probes", calls},
            {"build_s", build_s},
            {"templates_raw_kib", raw_kib},
            {"template_bytes_per_person", double(m.template_bytes()) / double(people.size())},
            {"matcher_rss_kib", rss},
            {"memory_ratio", double(rss) / raw_kib}};
  std::printf("matcher: %zu people x %d-d, 1 thread, first pass %s (int8 scan: %s, 4-bit: %s)\n",
              people.size(), kDim, coarse ? "4-bit" : "int8", Matcher::scan_path(),
              Matcher::coarse_path());
  std::printf(
      "  identify (one probe, top 5): median %.3f ms (p10 %.3f, p90 %.3f, %zu probes), thread CPU "
      "median %.3f ms; %.0f rows given the int8 test, %.1f rescored a probe; nearest person found "
      "%d of %d\n",
      s.median, s.p10, s.p90, s.count, sc.median, coarse ? refined / calls : double(people.size()),
      rescored / calls, found, calls);
  std::printf(
      "  memory: %lld KiB resident for the matcher, templates raw %.0f KiB: %.3fx (templates "
      "%.0f bytes a person, float32 %d)\n",
      static_cast<long long>(rss), raw_kib, double(rss) / raw_kib,
      double(m.template_bytes()) / double(people.size()), kDim * 4);
  std::printf("  built in %.2f s\n", build_s);
  if (baseline) {
    const SampleStats b = summarise(ms[1]);
    const SampleStats bc =
        summarise(std::vector<double>(f32_cpu.begin() + static_cast<long>(warm), f32_cpu.end()));
    j["baseline_float32"] = {
        {"identify_ms", stats_json(b)}, {"identify_cpu_ms", stats_json(bc)},
        {"matcher_rss_kib", f32_rss},   {"memory_ratio", double(f32_rss) / raw_kib},
        {"build_s", f32_build_s},       {"same_answer", agree},
        {"compared", compared},         {"max_similarity_diff", max_diff}};
    j["speedup_median"] = b.median / s.median;
    j["speedup_cpu_median"] = bc.median / sc.median;
    std::printf(
        "  float32 baseline, same run: median %.3f ms (p10 %.3f, p90 %.3f), thread CPU median "
        "%.3f ms: %.2fx (CPU %.2fx); memory %lld KiB = %.3fx raw; same top 5 on %d of %d "
        "probes, similarities within %.2g\n",
        b.median, b.p10, b.p90, bc.median, b.median / s.median, bc.median / sc.median,
        static_cast<long long>(f32_rss), double(f32_rss) / raw_kib, agree, compared, max_diff);
  }
  if (compare_int8) {
    const SampleStats b = summarise(ms.back());
    const SampleStats bc =
        summarise(std::vector<double>(i8_cpu.begin() + static_cast<long>(warm), i8_cpu.end()));
    int same = 0;
    for (std::size_t i = 0; i < i8_answers.size() && i < answers.size(); ++i) {
      bool eq = answers[i].top.size() == i8_answers[i].top.size();
      for (std::size_t t = 0; eq && t < answers[i].top.size(); ++t) {
        eq = answers[i].top[t].name == i8_answers[i].top[t].name &&
             answers[i].top[t].similarity == i8_answers[i].top[t].similarity;
      }
      if (eq) ++same;
    }
    j["int8_only"] = {{"identify_ms", stats_json(b)},
                      {"identify_cpu_ms", stats_json(bc)},
                      {"same_answer", same},
                      {"compared", std::min(i8_answers.size(), answers.size())}};
    std::printf(
        "  int8 first pass only, same run: median %.3f ms (p10 %.3f, p90 %.3f), thread CPU median "
        "%.3f ms: %.2fx (CPU %.2fx); identical answers on %d of %zu probes\n",
        b.median, b.p10, b.p90, bc.median, b.median / s.median, bc.median / sc.median, same,
        std::min(i8_answers.size(), answers.size()));
  }
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

  // A follower: how long after an enrolment starts on one Gallery does another see it, and
  // how long until its matcher has the new person (MatcherSync: only what changed is read)?
  Gallery leader(location, kModelId), follower(location, kModelId);
  follower.refresh_if_changed();
  MatcherSync sync;
  sync.update(follower);
  const cv::Mat face = grey_face();
  std::vector<double> sync_ms, enrol_ms, update_ms, ready_ms;
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
    const auto t_update = Clock::now();
    const MatcherSync::Update u = sync.update(follower);
    update_ms.push_back(seconds_since(t_update) * 1000);
    ready_ms.push_back(seconds_since(t0) * 1000);
    if (!u.matcher->contains(name) || u.whole) {
      throw Error("bench", "the follower's matcher update did not add " + name + " alone");
    }
    leader.remove_person(name);
    // The removal is news to the follower too: consumed before the next measurement.
    const auto t1 = Clock::now();
    while (!follower.refresh_if_changed() && seconds_since(t1) < 30) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    sync.update(follower);
  }
  const SampleStats ss = summarise(sync_ms), es = summarise(enrol_ms);
  const SampleStats us = summarise(update_ms), rs = summarise(ready_ms);
  j["sync_ms"] = {{"median", ss.median}, {"max", ss.max}, {"n", ss.count}};
  j["enrol_ms"] = {{"median", es.median}, {"n", es.count}};
  j["matcher_update_ms"] = {{"median", us.median}, {"max", us.max}, {"n", us.count}};
  j["matcher_ready_ms"] = {{"median", rs.median}, {"max", rs.max}, {"n", rs.count}};
  std::printf(
      "  sync to a follower (enrol starts -> refresh_if_changed() true): median %.1f ms, "
      "max %.1f ms (%zu enrolments; the enrolment itself: median %.1f ms)\n"
      "  the follower's matcher updated (MatcherSync, changes only): median %.1f ms, max %.1f ms;"
      " enrol starts -> matcher ready: median %.1f ms, max %.1f ms\n",
      ss.median, ss.max, ss.count, es.median, us.median, us.max, rs.median, rs.max);
  std::fflush(stdout);
  return j;
}

}  // namespace

int run_scale_bench(const ScaleBenchOptions& o) {
  if (o.repeat < 1 || o.load_repeat < 1 || o.sync_repeat < 1) {
    throw Error("cli", "--repeat, --load-repeat and --sync-repeat must be >= 1");
  }
  const SyntheticPeople people(o.people, kDim, kSeed);
  json out = {{"matcher", bench_matcher(people, o.repeat, o.baseline)}, {"stores", json::array()}};
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
