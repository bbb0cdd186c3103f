// Facts about the machine a figure was measured on, written beside every benchmark and
// evaluation result (docs/BENCHMARKS.md: a figure without its machine is not comparable).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace vlrface::cli {

// Model, OS, architecture, memory, CPU, cores, OpenCV version and threading back end, compiler,
// build type, kernel and the date. Fields that cannot be read are "unknown", never an error.
nlohmann::json machine_info();

// "/proc/loadavg"'s three averages ("0.52 0.15 0.05"), or "unknown": a loaded machine's figures
// are not idle figures, so every result says which it was.
std::string load_average();

// Now, UTC, as 2026-11-29T09:21:17Z.
std::string utc_now();

}  // namespace vlrface::cli
