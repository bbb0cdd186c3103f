// `vlrface bench --gallery-scale N`: the matcher and the gallery at fleet scale, no models needed.
// N synthetic people (vlrface/bench_scale.hpp): identify time on one core, the matcher's memory
// against the templates' raw size, and, per --scale-store (a SQLite file or a postgresql:// URL),
// the time to write them, the time for a node to load them all at start, and the time for a
// person enrolled through one Gallery to be seen by another's refresh_if_changed().
#pragma once

#include <string>
#include <vector>

namespace vlrface::cli {

struct ScaleBenchOptions {
  std::size_t people = 0;           // 0: not asked for
  std::vector<std::string> stores;  // galleries to write, load and follow
  int repeat = 200;                 // identify: timed probes
  int load_repeat = 3;              // loads of the whole gallery per store
  int sync_repeat = 10;             // enrol-to-seen measurements per store
  std::string json;                 // also write the results here
  bool baseline = true;             // also time the float32 brute force (Float32Matcher)
};

int run_scale_bench(const ScaleBenchOptions& o);

}  // namespace vlrface::cli
