// vlrface/plot.hpp — small self-contained SVG figures for evaluation reports.
//
// Usage:
//   std::string svg = vlrface::plot::roc_svg({{"32 px bicubic", roc_points}}, "LFW ROC");
//   std::string h = vlrface::plot::histogram_svg(genuine, impostor, "32 px bicubic", 0.31);
// SVG rather than PNG so the figures need no plotting library, diff well and scale in docs.
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vlrface/eval.hpp"

namespace vlrface::plot {

struct RocSeries {
  std::string label;
  std::vector<eval::RocPoint> points;  // as eval::roc_curve gives them
};

// TAR against FAR, FAR on a log axis from 1e-4 to 1 (smaller FARs sit on the left edge).
std::string roc_svg(const std::vector<RocSeries>& series, const std::string& title);

// Genuine and impostor similarity distributions as the share of pairs per bin; `threshold`, when
// given, is drawn as a dashed vertical line.
std::string histogram_svg(std::span<const double> genuine, std::span<const double> impostor,
                          const std::string& title, std::optional<double> threshold = {},
                          int bins = 50);

}  // namespace vlrface::plot
