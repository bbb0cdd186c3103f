#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "vlrface/plot.hpp"

namespace vlrface::plot {
namespace {

constexpr double kWidth = 720, kHeight = 480;
constexpr double kLeft = 70, kRight = 20, kTop = 40, kBottom = 60;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
constexpr double kMinExp = -4;  // ROC FAR axis: 1e-4 .. 1
// Tableau 10: distinguishable, and the first pair also for red-green colour blindness.
const char* const kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string num(double v, int decimals = 1) {
  if (std::abs(v) < 0.5 * std::pow(10.0, -decimals)) v = 0;  // no "-0.0" tick labels
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Frame, title and axis labels shared by both figures.
void begin(std::ostringstream& s, const std::string& title, const std::string& xlabel,
           const std::string& ylabel) {
  s << R"(<svg xmlns="http://www.w3.org/2000/svg" width=")" << num(kWidth, 0) << R"(" height=")"
    << num(kHeight, 0) << R"(" viewBox="0 0 )" << num(kWidth, 0) << " " << num(kHeight, 0)
    << R"(" font-family="sans-serif" font-size="12">)"
    << "\n";
  s << R"(<rect width="100%" height="100%" fill="white"/>)"
    << "\n";
  s << R"(<text x=")" << num(kLeft + kPlotW / 2) << R"(" y="24" text-anchor="middle" )"
    << R"(font-size="15">)" << escape(title) << "</text>\n";
  s << R"(<text x=")" << num(kLeft + kPlotW / 2) << R"(" y=")" << num(kHeight - 14)
    << R"(" text-anchor="middle">)" << escape(xlabel) << "</text>\n";
  s << R"(<text transform="translate(18 )" << num(kTop + kPlotH / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">" << escape(ylabel) << "</text>\n";
}

void grid_line_x(std::ostringstream& s, double x, const std::string& label) {
  s << R"(<line x1=")" << num(x) << R"(" y1=")" << num(kTop) << R"(" x2=")" << num(x) << R"(" y2=")"
    << num(kTop + kPlotH) << R"(" stroke="#ddd"/>)"
    << "\n";
  s << R"(<text x=")" << num(x) << R"(" y=")" << num(kTop + kPlotH + 16)
    << R"(" text-anchor="middle">)" << label << "</text>\n";
}

void grid_line_y(std::ostringstream& s, double y, const std::string& label) {
  s << R"(<line x1=")" << num(kLeft) << R"(" y1=")" << num(y) << R"(" x2=")" << num(kLeft + kPlotW)
    << R"(" y2=")" << num(y) << R"(" stroke="#ddd"/>)"
    << "\n";
  s << R"(<text x=")" << num(kLeft - 6) << R"(" y=")" << num(y + 4) << R"(" text-anchor="end">)"
    << label << "</text>\n";
}

void end(std::ostringstream& s) {
  s << R"(<rect x=")" << num(kLeft) << R"(" y=")" << num(kTop) << R"(" width=")" << num(kPlotW)
    << R"(" height=")" << num(kPlotH) << R"(" fill="none" stroke="black"/>)"
    << "\n";
  s << "</svg>\n";
}

// Legend box in a corner the data rarely reaches: lower right for ROC curves, upper left for
// similarity histograms (impostors peak near 0, genuine pairs further right).
void legend(std::ostringstream& s, const std::vector<std::pair<std::string, std::string>>& items,
            bool upper_left) {
  if (items.empty()) return;
  std::size_t longest = 0;
  for (const auto& [label, colour] : items) longest = std::max(longest, label.size());
  const double w = 40 + 7.0 * static_cast<double>(longest), h = 8 + 18.0 * items.size();
  const double x = upper_left ? kLeft + 10 : kLeft + kPlotW - w - 10;
  const double y = upper_left ? kTop + 10 : kTop + kPlotH - h - 10;
  s << R"(<rect x=")" << num(x) << R"(" y=")" << num(y) << R"(" width=")" << num(w)
    << R"(" height=")" << num(h) << R"(" fill="white" fill-opacity="0.9" stroke="#888"/>)"
    << "\n";
  for (std::size_t i = 0; i < items.size(); ++i) {
    const double ly = y + 15 + 18.0 * i;
    s << R"(<line x1=")" << num(x + 8) << R"(" y1=")" << num(ly - 4) << R"(" x2=")" << num(x + 30)
      << R"(" y2=")" << num(ly - 4) << R"(" stroke=")" << items[i].second
      << R"(" stroke-width="3"/>)"
      << "\n";
    s << R"(<text x=")" << num(x + 36) << R"(" y=")" << num(ly) << R"(">)" << escape(items[i].first)
      << "</text>\n";
  }
}

}  // namespace

std::string roc_svg(const std::vector<RocSeries>& series, const std::string& title) {
  auto px = [](double far) {
    const double e = far > 0 ? std::max(std::log10(far), kMinExp) : kMinExp;
    return kLeft + (e - kMinExp) / -kMinExp * kPlotW;
  };
  auto py = [](double tar) { return kTop + (1 - tar) * kPlotH; };

  std::ostringstream s;
  begin(s, title, "false accept rate (FAR, log scale)", "true accept rate (TAR)");
  const char* const far_labels[] = {"1e-4", "1e-3", "0.01", "0.1", "1"};
  for (int e = -4; e <= 0; ++e) grid_line_x(s, px(std::pow(10.0, e)), far_labels[e + 4]);
  for (int i = 0; i <= 10; ++i) grid_line_y(s, py(i / 10.0), num(i / 10.0));

  std::vector<std::pair<std::string, std::string>> items;
  for (std::size_t k = 0; k < series.size(); ++k) {
    const std::string colour = kColours[k % std::size(kColours)];
    items.emplace_back(series[k].label, colour);
    // Tens of thousands of points collapse to a few hundred once closer than half a pixel.
    std::ostringstream path;
    double lx = -1e9, ly = -1e9;
    const auto& pts = series[k].points;
    for (std::size_t i = 0; i < pts.size(); ++i) {
      const double x = px(pts[i].far), y = py(pts[i].tar);
      if (i + 1 < pts.size() && std::abs(x - lx) < 0.5 && std::abs(y - ly) < 0.5) continue;
      path << (i == 0 ? "M" : " L") << num(x) << "," << num(y);
      lx = x;
      ly = y;
    }
    s << R"(<path d=")" << path.str() << R"(" fill="none" stroke=")" << colour
      << R"(" stroke-width="1.8"/>)"
      << "\n";
  }
  legend(s, items, false);
  end(s);
  return s.str();
}

std::string histogram_svg(std::span<const double> genuine, std::span<const double> impostor,
                          const std::string& title, std::optional<double> threshold, int bins) {
  bins = std::max(bins, 1);
  double lo = 1e300, hi = -1e300;
  for (auto set : {genuine, impostor}) {
    for (double v : set) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (lo > hi) lo = -1, hi = 1;  // no data: an empty cosine axis
  lo = std::floor(lo * 10) / 10;
  hi = std::ceil(hi * 10) / 10;
  if (hi - lo < 0.1) hi = lo + 0.1;
  const double width = (hi - lo) / bins;

  auto shares = [&](std::span<const double> values) {
    std::vector<double> h(static_cast<std::size_t>(bins), 0.0);
    for (double v : values) {
      const int b = std::clamp(static_cast<int>((v - lo) / width), 0, bins - 1);
      h[static_cast<std::size_t>(b)] += 1;
    }
    for (double& x : h) x /= std::max<std::size_t>(values.size(), 1);
    return h;
  };
  const std::vector<double> hg = shares(genuine), hi_ = shares(impostor);
  double top = 0;
  for (double v : hg) top = std::max(top, v);
  for (double v : hi_) top = std::max(top, v);
  // Headroom above the highest bar keeps the legend clear of the data; then a multiple of 0.05.
  top = top > 0 ? std::ceil(top * 1.3 * 20) / 20 : 0.05;

  auto px = [&](double v) { return kLeft + (v - lo) / (hi - lo) * kPlotW; };
  auto py = [&](double share) { return kTop + (1 - share / top) * kPlotH; };

  std::ostringstream s;
  begin(s, title, "cosine similarity", "share of pairs per bin");
  const int xticks = static_cast<int>(std::lround((hi - lo) / 0.1));
  // Every 0.2 on wide ranges, on even tenths so that 0 is labelled.
  const int xstep = xticks > 12 ? 2 : 1;
  const int first = xstep == 2 && std::lround(lo * 10) % 2 != 0 ? 1 : 0;
  for (int i = first; i <= xticks; i += xstep) {
    grid_line_x(s, px(lo + 0.1 * i), num(lo + 0.1 * i));
  }
  for (int i = 0; i <= 5; ++i) grid_line_y(s, py(top * i / 5), num(top * i / 5, 3));

  auto step_path = [&](const std::vector<double>& h, const char* colour) {
    std::ostringstream p;
    p << "M" << num(px(lo)) << "," << num(py(0));
    for (int b = 0; b < bins; ++b) {
      const double y = py(h[static_cast<std::size_t>(b)]);
      p << " L" << num(px(lo + width * b)) << "," << num(y) << " L" << num(px(lo + width * (b + 1)))
        << "," << num(y);
    }
    p << " L" << num(px(hi)) << "," << num(py(0)) << " Z";
    s << R"(<path d=")" << p.str() << R"(" fill=")" << colour << R"(" fill-opacity="0.35" )"
      << R"(stroke=")" << colour << R"(" stroke-width="1.2"/>)"
      << "\n";
  };
  step_path(hi_, kColours[1]);
  step_path(hg, kColours[0]);
  std::vector<std::pair<std::string, std::string>> items = {
      {"genuine (" + std::to_string(genuine.size()) + ")", kColours[0]},
      {"impostor (" + std::to_string(impostor.size()) + ")", kColours[1]}};
  if (threshold && std::isfinite(*threshold) && *threshold >= lo && *threshold <= hi) {
    const double x = px(*threshold);
    s << R"(<line x1=")" << num(x) << R"(" y1=")" << num(kTop) << R"(" x2=")" << num(x)
      << R"(" y2=")" << num(kTop + kPlotH) << R"(" stroke="black" stroke-dasharray="5,4"/>)"
      << "\n";
    items.emplace_back("threshold " + num(*threshold, 3), "black");
  }
  legend(s, items, true);
  end(s);
  return s.str();
}

}  // namespace vlrface::plot
