// `vlrface bench --report`: the results as one plain-text block that the owner of a machine
// (a Raspberry Pi above all) can paste into an issue, so that figures for machines the project
// does not have come from those machines (docs/BENCHMARKS.md, "Figures from other machines").
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace vlrface::cli {

// `results` is what `vlrface bench --json` writes: "machine", "config", "runs" (per thread count,
// "stages" with "stage", "variant", "res", "people", "median_ms", "available"), "memory" and
// "peak_rss_kib". Throws Error("bench", ...) naming a missing field. The block states how fps
// is derived: 1000 / (detect + per_face), medians, one face per frame, stages one after another.
std::string bench_report(const nlohmann::json& results, const std::string& command_line);

}  // namespace vlrface::cli
